import AgentCore
import AgentWire
import GRPCCore
import SwiftProtobuf

/// `agents.gateway.v1.Gateway` on the host's gRPC port: the gateway for callers with protoc stubs
/// or `grpcurl` (and `agentctl`). Errors are gRPC statuses with the runtime's code in the
/// `agerrorcode` trailer.
struct GatewayService: Agents_Gateway_V1_Gateway.SimpleServiceProtocol {
  let gateway: Gateway
  /// Who each call is: the permission checks use the identity of its credentials.
  let authenticator: Authenticator
  /// Where `Subscribe` streams are recorded, for revocation.
  let openStreams: OpenStreams
  /// The least time between two writes to one `Subscribe` stream (see the host's tapFlushInterval).
  let flushInterval: Duration

  func invoke(
    request: Agents_Gateway_V1_InvokeRequest, context: ServerContext
  ) async throws -> Agents_Gateway_V1_InvokeResponse {
    try await Self.mappingErrors {
      let (target, payload, timeout) = try Self.call(request)
      try gateway.authorize(caller, .call, target.type.name)
      return try await Self.endingWithTheRPC {
        Self.response(try await gateway.invoke(payload, to: target, timeout: timeout))
      }
    }
  }

  func invokeStream(
    request: Agents_Gateway_V1_InvokeRequest,
    response: RPCWriter<Agents_Gateway_V1_InvokeStreamEvent>,
    context: ServerContext
  ) async throws {
    try await Self.mappingErrors {
      let (target, payload, timeout) = try Self.call(request)
      try gateway.authorize(caller, .call, target.type.name)
      try await Self.endingWithTheRPC { try await streamInvoke(target: target, payload: payload, timeout: timeout, to: response) }
    }
  }

  private func streamInvoke(
    target: AgentId, payload: SerializedPayload, timeout: Duration?, to response: RPCWriter<Agents_Gateway_V1_InvokeStreamEvent>
  ) async throws {
    let (chunks, sink) = AsyncStream.makeStream(of: Agents_Gateway_V1_InvokeStreamEvent.self)
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask {
        defer { sink.finish() }
        let answer = try await gateway.invoke(payload, to: target, timeout: timeout) { chunk in
          sink.yield(.with {
            $0.chunk = Agents_Gateway_V1_Payload(chunk.payload)
            $0.sequence = UInt64(chunk.topic.source) ?? 0
          })
        }
        sink.yield(.with { $0.result = Self.response(answer) })
      }
      for await event in chunks { try await response.write(event) }
      try await group.waitForAll()
    }
  }

  func publish(
    request: Agents_Gateway_V1_PublishRequest, context: ServerContext
  ) async throws -> Agents_Gateway_V1_PublishResponse {
    try await Self.mappingErrors {
      let topic = try TopicId(type: request.topicType, source: request.topicSource)
      try gateway.authorize(caller, .publish, topic.type)
      let id = try gateway.publish(
        try request.message.serialized(), to: topic, messageId: request.id.isEmpty ? nil : request.id)
      return .with { $0.id = id }
    }
  }

  func subscribe(
    request: Agents_Gateway_V1_SubscribeRequest,
    response: RPCWriter<Agents_Gateway_V1_TopicEvent>,
    context: ServerContext
  ) async throws {
    try await Self.mappingErrors {
      guard TopicId.isValidType(request.topicType) else {
        throw AgentRuntimeError(code: .invalidArgument, message: "'\(request.topicType)' is not a valid topic type")
      }
      let filter = TapFilter(topicType: request.topicType, isPrefix: request.prefix, source: request.hasSource ? request.source : nil)
      try gateway.authorizeWatch(caller, filter)
      let reader = gateway.tap(filter, after: request.hasAfterSequence ? request.afterSequence : nil)
      // A reload that revokes the caller's credentials, or its token's expiry, ends the stream.
      let registration = await openStreams.open(GatewayCaller.current) { reader.end($0) }
      defer {
        reader.close()
        registration?.close()
      }
      try await Self.endingWithTheRPC { try await forward(reader, to: response) }
    }
  }

  /// Writes what `reader` takes to `response` until the reader ends.
  private func forward(_ reader: TapReader, to response: RPCWriter<Agents_Gateway_V1_TopicEvent>) async throws {
    while let items = await reader.next() {
      let events = items.compactMap { item -> Agents_Gateway_V1_TopicEvent? in
        guard case .event(let tapped) = item, let event = try? PublishedEvent(wire: try tapped.event.decoded()) else {
          return nil
        }
        return .with {
          $0.sequence = tapped.sequence
          $0.topicType = event.topic.type
          $0.topicSource = event.topic.source
          $0.id = event.messageId
          $0.message = Agents_Gateway_V1_Payload(event.payload)
          if let sender = event.sender {
            $0.senderType = sender.type.name
            $0.senderKey = sender.key
          }
        }
      }
      try await response.write(contentsOf: events)
      if flushInterval > .zero { try await Task.sleep(for: flushInterval) }
    }
    if let reason = reader.endReason { throw reason }
    if reader.overflowed {
      throw AgentRuntimeError(
        code: .resourceExhausted,
        message: "the reader fell more than \(gateway.router.tap.readerBuffer) events behind and was dropped; resume with after_sequence")
    }
    try Task.checkCancellation()
    throw AgentRuntimeError(code: .unavailable, message: "the host is shutting down")
  }

  func listAgentTypes(
    request: Agents_Gateway_V1_ListAgentTypesRequest, context: ServerContext
  ) async throws -> Agents_Gateway_V1_ListAgentTypesResponse {
    .with { response in
      response.agentTypes = gateway.agentTypes.map { entry in
        .with {
          $0.type = entry.type.name
          $0.workers = Int32(entry.workers)
          $0.nodes = entry.nodes
          $0.subscriptions = entry.subscriptions.map { subscription in
            .with {
              $0.id = subscription.id
              switch subscription.filter {
              case .type(let type): $0.topicType = type
              case .typePrefix(let prefix): $0.topicTypePrefix = prefix
              }
            }
          }
        }
      }
    }
  }

  // MARK: Helpers

  private static func call(
    _ request: Agents_Gateway_V1_InvokeRequest
  ) throws(AgentRuntimeError) -> (AgentId, SerializedPayload, Duration?) {
    let target = try AgentId(type: request.agentType, key: request.agentKey)
    guard request.timeoutSeconds >= 0, request.timeoutSeconds.isFinite else {
      throw AgentRuntimeError(code: .invalidArgument, message: "timeout_seconds must be a positive number, or 0 for the host's")
    }
    let timeout: Duration? = request.timeoutSeconds > 0 ? .seconds(clamping: request.timeoutSeconds) : nil
    return (target, try request.message.serialized(), timeout)
  }

  private static func response(_ answer: SerializedPayload?) -> Agents_Gateway_V1_InvokeResponse {
    .with { if let answer { $0.result = Agents_Gateway_V1_Payload(answer) } }
  }

  /// Runs `body` until it returns or the RPC is cancelled (its client went away or its deadline
  /// passed), whichever comes first; then `body`'s task is cancelled, which cancels the agent's
  /// call. (grpc-swift signals a cancelled RPC through its cancellation handle, not by cancelling
  /// the handler's task.)
  static func endingWithTheRPC<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let rpcCancelled = OneShot<Void>()
    return try await withRPCCancellationHandler {
      try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
          try await rpcCancelled.value()
          throw CancellationError()
        }
        defer { group.cancelAll() }
        return try await group.next()!
      }
    } onCancelRPC: {
      rpcCancelled.resolve(.success(()))
    }
  }

  /// Runs `body`, turning runtime errors into gRPC statuses.
  static func mappingErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
      return try await body()
    } catch let error as AgentRuntimeError {
      throw RPCError(error)
    }
  }
}

extension Duration {
  /// `seconds` (positive, finite) as a duration, rounded up to whole milliseconds and capped at
  /// a year: a caller's timeout is bounded by the host's anyway.
  static func seconds(clamping seconds: Double) -> Duration {
    .milliseconds(Int64((min(seconds, 365 * 24 * 3600) * 1000).rounded(.up)))
  }
}

extension RPCError {
  /// The gRPC status for a runtime error, with its code in the `agerrorcode` trailer.
  init(_ error: AgentRuntimeError) {
    let code: RPCError.Code
    switch error.code {
    case .unknownAgentType, .notFound: code = .notFound
    case .deadlineExceeded: code = .deadlineExceeded
    case .invalidArgument, .unhandledMessage, .serializationFailed: code = .invalidArgument
    case .resourceExhausted: code = .resourceExhausted
    case .unavailable: code = .unavailable
    case .unauthenticated: code = .unauthenticated
    case .alreadyExists: code = .alreadyExists
    case .cancelled: code = .cancelled
    case .handlerFailed: code = .unknown
    case .stateConflict: code = .aborted
    case .permissionDenied: code = .permissionDenied
    default: code = .internalError
    }
    self.init(code: code, message: error.message, metadata: [RpcErrorCode.metadataKey: .string(RpcErrorCode.wireName(error.code, gateway: true))])
  }
}
