public import AgentCore
public import AgentWire
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
public import Logging
public import ServiceLifecycle
import SwiftProtobuf
import Synchronization

/// An ``AgentRuntime`` that hosts agents in this process and reaches every other agent through a
/// host (`runtime-host`, or AutoGen's `GrpcWorkerAgentRuntimeHost`) over gRPC.
///
/// It implements the same API as ``InProcessRuntime``, so agent code runs unchanged on either.
/// Messages that cross the wire must be registered in the ``SerializationRegistry`` given here.
///
/// ```swift
/// var serializers = SerializationRegistry()
/// serializers.registerJSON(ChatMessage.self)
/// try await withGrpcWorker(configuration: .init(host: try HostAddress(parsing: "localhost:50051")),
///                          serializers: serializers) { worker in
///   try await worker.register(try AgentType("assistant"), subscriptions: [.defaultTopic]) { id, runtime in
///     Assistant(id: id, runtime: runtime)
///   }
///   try await worker.publish(ChatMessage(text: "hello"), to: .default())
/// }
/// ```
///
/// Semantics (the same as in-process, across processes):
/// - `register` sends `RegisterAgent`, then `AddSubscription` for each class-level subscription,
///   then the direct-message subscription (type prefix `"<type>:"`), as AutoGen's worker does. A
///   refusal throws and leaves nothing registered locally.
/// - `send` goes through the host, has a deadline (per call, default
///   ``Configuration/defaultRPCTimeout``), and throws ``AgentRuntimeError/Code/cancelled`` when its
///   task is cancelled. Remote handler errors arrive as ``AgentRuntimeError/Code/handlerFailed`` with
///   the remote text.
/// - Every incoming RPC is answered: the handler's result, its error text, or an empty payload for a
///   handler that returns nothing.
/// - Incoming published messages are matched against this worker's subscriptions, skip the sending
///   agent, create agents keyed by the topic source, and honour the host's placement hint.
/// - Messages to one agent start in arrival order (see ``Agent``); different agents run
///   concurrently.
///
/// Lifecycle: ``run()`` connects and serves until graceful shutdown (or ``shutdown()``), lets
/// in-flight handlers finish, closes the channel and returns. If the host goes away, `run()` throws
/// ``AgentRuntimeError/Code/unavailable`` and pending sends fail.
public final class GrpcWorkerRuntime: AgentRuntime, Service {
  /// Worker settings.
  public struct Configuration: Sendable {
    /// The host to connect to.
    public var host: HostAddress
    /// How long a send waits for its response when the call gives no timeout; also the bound on
    /// registration calls. Default 60 s.
    public var defaultRPCTimeout: Duration
    /// How long to wait for the host to acknowledge the channel before registering anyway.
    /// `runtime-host` acknowledges at once; AutoGen's host only with its first message.
    public var channelReadyTimeout: Duration
    /// How long handlers still running at shutdown may take before they are cancelled. Default 10 s.
    public var shutdownGracePeriod: Duration
    /// After shutdown closes this worker's side of the channel, how long to wait for the host to
    /// close its side before dropping the connection. (AutoGen's host never does.) Default 2 s.
    public var closeTimeout: Duration = .seconds(2)
    /// Sent as `authorization: Bearer <token>` on every call, for a host that requires it.
    public var authToken: String?

    /// Creates a configuration.
    public init(
      host: HostAddress,
      defaultRPCTimeout: Duration = .seconds(60),
      channelReadyTimeout: Duration = .seconds(1),
      shutdownGracePeriod: Duration = .seconds(10)
    ) {
      self.host = host
      self.defaultRPCTimeout = defaultRPCTimeout
      self.channelReadyTimeout = channelReadyTimeout
      self.shutdownGracePeriod = shutdownGracePeriod
    }
  }

  /// What the worker needs of its live connection for unary calls.
  struct Connection: Sendable {
    var clientId: String
    var rpc: Agents_AgentRpc.Client<HTTP2ClientTransport.Posix>
    var authToken: String?

    var metadata: Metadata {
      var metadata: Metadata = ["client-id": .string(clientId)]
      if let authToken { metadata.addString("Bearer \(authToken)", forKey: "authorization") }
      return metadata
    }
  }

  private struct Pending {
    var replies: [String: OneShot<(any Sendable)?>] = [:]
    var nextRequestId: UInt64 = 1
  }

  /// This worker's settings.
  public let configuration: Configuration
  /// The message types this worker can put on the wire.
  public let serializers: SerializationRegistry
  private let logger: Logger
  private let agents: LocalAgents
  private let subscriptionSet = Mutex(SubscriptionSet())
  private let pending = Mutex(Pending())
  private let connection = OneShot<Connection>()
  private let outbound: AsyncStream<Agents_Message>
  private let outboundContinuation: AsyncStream<Agents_Message>.Continuation
  private let started = Atomic<Bool>(false)
  /// Why the channel ended, when the host ended it; calls failing afterwards report this.
  private let channelFailure = Mutex<AgentRuntimeError?>(nil)

  /// Creates a worker; it connects once ``run()`` is called.
  public init(
    configuration: Configuration,
    serializers: SerializationRegistry,
    logger: Logger = Logger(label: "agents.worker")
  ) {
    self.configuration = configuration
    self.serializers = serializers
    self.logger = logger
    self.agents = LocalAgents(logger: logger, gracePeriod: configuration.shutdownGracePeriod)
    (outbound, outboundContinuation) = AsyncStream.makeStream()
  }

  /// The client id this worker's connection uses, once connected.
  public func clientId() async throws -> String {
    try await awaitConnection().clientId
  }

  // MARK: Lifecycle

  public func run() async throws {
    guard started.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else {
      throw AgentRuntimeError(code: .unavailable, message: "the worker was already started")
    }
    let transport = try HTTP2ClientTransport.Posix(
      target: configuration.host.resolvableTarget,
      transportSecurity: .plaintext
    )
    let client = GRPCClient(transport: transport)
    let connection = Connection(
      clientId: UUID().uuidString, rpc: Agents_AgentRpc.Client(wrapping: client), authToken: configuration.authToken)
    logger.info("connecting", metadata: ["host": "\(configuration.host)", "client-id": "\(connection.clientId)"])

    enum Exit: Sendable {
      case agentsDone
      case channelClosed((any Error)?)
      case connectionsDone
      case closeTimedOut
      case timerCancelled
    }
    var lost: AgentRuntimeError?
    try await withGracefulShutdownHandler {
      try await withThrowingTaskGroup(of: Exit.self) { group in
        group.addTask {
          do {
            try await client.runConnections()
          } catch {
            self.logger.debug("connections ended", metadata: ["error": "\(error)"])
          }
          return .connectionsDone
        }
        group.addTask {
          try await self.agents.run()
          return .agentsDone
        }
        group.addTask {
          do {
            try await self.runChannel(connection)
            return .channelClosed(nil)
          } catch {
            return .channelClosed(error)
          }
        }
        while let exit = try await group.next() {
          switch exit {
          case .agentsDone:
            // Every handler is done: close our side of the channel, then the client, and give the
            // host a bounded time to close its side.
            outboundContinuation.finish()
            client.beginGracefulShutdown()
            let closeTimeout = configuration.closeTimeout
            group.addTask {
              do {
                try await Task.sleep(for: closeTimeout)
                return .closeTimedOut
              } catch {
                return .timerCancelled
              }
            }
          case .closeTimedOut:
            logger.debug("the host did not close the channel; dropping the connection")
            failPending(AgentRuntimeError(code: .unavailable, message: "the worker shut down"))
            group.cancelAll()
          case .channelClosed(let error):
            if !agents.isShutDown {
              if let refusal = error as? RPCError, [.unauthenticated, .permissionDenied].contains(refusal.code) {
                lost = AgentRuntimeError(
                  code: .unauthenticated, message: "the host \(configuration.host) refused the channel: \(refusal.message)",
                  cause: error)
              } else {
                lost = AgentRuntimeError(
                  code: .unavailable, message: "lost the connection to the host \(configuration.host)", cause: error)
              }
              logger.error("channel closed by the host", metadata: ["error": "\(String(describing: error))"])
              channelFailure.withLock { $0 = lost }
              self.connection.resolve(.failure(lost!))
              agents.shutdown()
            }
            failPending(lost ?? AgentRuntimeError(code: .unavailable, message: "the worker shut down"))
            client.beginGracefulShutdown()
          case .connectionsDone:
            // The connection is gone: nothing else can finish.
            group.cancelAll()
          case .timerCancelled:
            break
          }
        }
      }
    } onGracefulShutdown: {
      self.shutdown()
    }
    self.connection.resolve(.failure(lost ?? AgentRuntimeError(code: .unavailable, message: "the worker has stopped")))
    if let lost { throw lost }
  }

  /// Stops taking new messages, lets in-flight handlers finish, then closes the connection so that
  /// ``run()`` returns. Idempotent.
  public func shutdown() {
    agents.shutdown()
  }

  private func runChannel(_ connection: Connection) async throws {
    let outbound = self.outbound
    let ready = self.connection
    let readyTimeout = configuration.channelReadyTimeout
    try await connection.rpc.openChannel(metadata: connection.metadata) { writer in
      try await withThrowingTaskGroup(of: Void.self) { group in
        // runtime-host acknowledges the channel with response headers at once (onResponse below);
        // AutoGen's host sends nothing until it has a message, so do not wait forever for it.
        group.addTask {
          try? await Task.sleep(for: readyTimeout)
          ready.resolve(.success(connection))
        }
        for await message in outbound { try await writer.write(message) }
        group.cancelAll()
      }
    } onResponse: { response in
      ready.resolve(.success(connection))
      for try await message in response.messages {
        self.handleIncoming(message)
      }
    }
  }

  private func awaitConnection() async throws -> Connection {
    let timeout = configuration.defaultRPCTimeout
    let host = configuration.host
    return try await withDeadline(
      timeout,
      timeoutError: {
        AgentRuntimeError(code: .unavailable, message: "not connected to the host \(host) within \(timeout.secondsDescription)")
      },
      cancelledError: { AgentRuntimeError(code: .cancelled, message: "waiting for the host connection was cancelled") },
      { try await self.connection.value() }
    )
  }

  private func failPending(_ error: AgentRuntimeError) {
    let replies = pending.withLock { pending in
      defer { pending.replies = [:] }
      return Array(pending.replies.values)
    }
    for reply in replies { reply.resolve(.failure(error)) }
  }

  // MARK: Registration and subscriptions

  public func register(
    _ type: AgentType,
    subscriptions: [TopicFilter],
    factory: @escaping AgentFactory
  ) async throws {
    let classSubscriptions = try subscriptions.subscriptions(for: type)
    try agents.register(type, factory: factory)
    var added: [Subscription] = []
    do {
      let connection = try await awaitConnection()
      try await unary("RegisterAgent") {
        _ = try await connection.rpc.registerAgent(
          .with { $0.type = type.name }, metadata: connection.metadata, options: self.callOptions)
      }
      for subscription in classSubscriptions + [Subscription.directMessages(for: type)] {
        try await addSubscription(subscription, via: connection)
        added.append(subscription)
      }
      logger.info("agent type registered", metadata: ["type": "\(type)", "subscriptions": "\(added.count)"])
    } catch {
      // Leave nothing half-registered here. (The host keeps the type name until this worker
      // disconnects; requests for it are answered with an error.)
      for subscription in added {
        try? await removeSubscription(id: subscription.id)
      }
      agents.unregister(type)
      throw error
    }
  }

  public func addSubscription(_ subscription: Subscription) async throws {
    try await addSubscription(subscription, via: try await awaitConnection())
  }

  private func addSubscription(_ subscription: Subscription, via connection: Connection) async throws {
    try subscriptionSet.withLock { set throws(AgentRuntimeError) in try set.add(subscription) }
    do {
      try await unary("AddSubscription") {
        _ = try await connection.rpc.addSubscription(
          .with { $0.subscription = Agents_Subscription(subscription) },
          metadata: connection.metadata, options: self.callOptions)
      }
    } catch {
      _ = subscriptionSet.withLock { set in try? set.remove(id: subscription.id) }
      throw error
    }
  }

  public func removeSubscription(id: String) async throws {
    let connection = try await awaitConnection()
    try await unary("RemoveSubscription") {
      _ = try await connection.rpc.removeSubscription(
        .with { $0.id = id }, metadata: connection.metadata, options: self.callOptions)
    }
    _ = subscriptionSet.withLock { set in try? set.remove(id: id) }
  }

  /// This worker's subscriptions (the ones it matches incoming messages against).
  public var subscriptions: [Subscription] {
    subscriptionSet.withLock { $0.all }
  }

  private var callOptions: CallOptions {
    var options = CallOptions.defaults
    options.timeout = configuration.defaultRPCTimeout
    return options
  }

  /// Runs a unary call, turning a host refusal into an ``AgentRuntimeError``.
  private func unary(_ method: String, _ call: () async throws -> Void) async throws {
    do {
      try await call()
    } catch let error as RPCError {
      // The channel's end explains a call cut short by it (e.g. refused credentials).
      if let failure = channelFailure.withLock({ $0 }) { throw failure }
      let code: AgentRuntimeError.Code
      switch error.code {
      case .invalidArgument where error.message.contains("already exists"), .alreadyExists: code = .alreadyExists
      case .invalidArgument: code = .invalidArgument
      case .notFound: code = .notFound
      case .deadlineExceeded: code = .deadlineExceeded
      case .cancelled: code = .cancelled
      case .resourceExhausted: code = .resourceExhausted
      case .unauthenticated, .permissionDenied: code = .unauthenticated
      default: code = .unavailable
      }
      throw AgentRuntimeError(code: code, message: "the host refused \(method): \(error.message)", cause: error)
    }
  }

  // MARK: Messaging

  public func send(
    _ message: any Sendable,
    to recipient: AgentId,
    options: SendOptions
  ) async throws -> (any Sendable)? {
    guard !agents.isShutDown else { throw LocalAgents.shutDownError }
    let payload = try serializers.serialize(message)
    let sender = options.sender ?? MessageContext.current?.recipient
    let reply = OneShot<(any Sendable)?>()
    let requestId = pending.withLock { pending in
      let id = String(pending.nextRequestId)
      pending.nextRequestId += 1
      pending.replies[id] = reply
      return id
    }
    defer { _ = pending.withLock { $0.replies.removeValue(forKey: requestId) } }
    let timeout = options.timeout ?? configuration.defaultRPCTimeout
    let request = Agents_RpcRequest.with {
      $0.requestID = requestId
      $0.target = Agents_AgentId(recipient)
      if let sender { $0.source = Agents_AgentId(sender) }
      $0.payload = Agents_Payload(payload)
      $0.metadata[RpcTimeout.metadataKey] = RpcTimeout.wireValue(timeout)
    }
    guard case .enqueued = outboundContinuation.yield(.with { $0.request = request }) else {
      throw LocalAgents.shutDownError
    }
    return try await reply.await(timeout: timeout, from: recipient)
  }

  public func publish(
    _ message: any Sendable,
    to topic: TopicId,
    options: PublishOptions
  ) async throws {
    guard !agents.isShutDown else { throw LocalAgents.shutDownError }
    let event = PublishedEvent(
      topic: topic,
      sender: options.sender ?? MessageContext.current?.recipient,
      messageId: options.messageId ?? UUID().uuidString,
      payload: try serializers.serialize(message)
    )
    let wire = try Io_Cloudevents_V1_CloudEvent(event)
    guard case .enqueued = outboundContinuation.yield(.with { $0.cloudEvent = wire }) else {
      throw LocalAgents.shutDownError
    }
  }

  public func agentMetadata(_ id: AgentId) async throws -> AgentMetadata {
    try await localAgent(id).metadata
  }

  public func saveAgentState(_ id: AgentId) async throws -> AgentState {
    try await localAgent(id).saveState()
  }

  public func loadAgentState(_ id: AgentId, state: AgentState) async throws {
    try await localAgent(id).loadState(state)
  }

  /// Metadata and state are available for agents this worker hosts.
  private func localAgent(_ id: AgentId) async throws -> any Agent {
    guard agents.isRegistered(id.type) else {
      throw AgentRuntimeError(
        code: .unknownAgentType,
        message: "agent type '\(id.type)' is not hosted by this worker; metadata and state are local only")
    }
    return try await agents.agent(for: id, runtime: self, timeout: configuration.defaultRPCTimeout)
  }

  // MARK: Incoming

  private func handleIncoming(_ message: Agents_Message) {
    switch message.message {
    case .request(let request): handleRequest(request)
    case .response(let response): handleResponse(response)
    case .cloudEvent(let event): handleEvent(event)
    case nil: logger.warning("message with no case set ignored")
    }
  }

  private func respond(to requestId: String, with result: Result<(any Sendable)?, any Error>) {
    var response: Agents_RpcResponse
    switch result {
    case .success(nil):
      response = Agents_RpcResponse()
      response.requestID = requestId
    case .success(let value?):
      do {
        response = Agents_RpcResponse()
        response.requestID = requestId
        response.payload = Agents_Payload(try serializers.serialize(value))
      } catch {
        response = Agents_RpcResponse(requestId: requestId, error: error)
      }
    case .failure(let error):
      response = Agents_RpcResponse(requestId: requestId, error: AgentRuntimeError.wrappingHandlerError(error))
    }
    _ = outboundContinuation.yield(.with { $0.response = response })
  }

  private func handleRequest(_ request: Agents_RpcRequest) {
    let requestId = request.requestID
    let target: AgentId
    do {
      guard request.hasTarget else {
        throw AgentRuntimeError(code: .invalidArgument, message: "RpcRequest '\(requestId)' has no target")
      }
      target = try AgentId(wire: request.target)
    } catch {
      return respond(to: requestId, with: .failure(error))
    }
    let message: any Sendable
    do {
      message = try serializers.deserialize(SerializedPayload(wire: request.payload))
    } catch {
      return respond(to: requestId, with: .failure(error))
    }
    let context = MessageContext(
      recipient: target,
      sender: request.hasSource ? try? AgentId(wire: request.source) : nil,
      topic: nil,
      isRPC: true,
      messageId: requestId
    )
    let reply = OneShot<(any Sendable)?>()
    reply.onResolve { result in self.respond(to: requestId, with: result) }
    // A Swift caller says how long it waits; stop the handler then. (AutoGen's callers do not.)
    let deadline = RpcTimeout.duration(request.metadata[RpcTimeout.metadataKey]).map { ContinuousClock.now + $0 }
    do {
      try agents.deliver(
        LocalAgents.Envelope(message: message, context: context, reply: reply, deadline: deadline), runtime: self)
    } catch {
      let refusal: AgentRuntimeError = error.code == .unknownAgentType
        ? AgentRuntimeError(code: .unknownAgentType, message: "agent type '\(target.type)' is not hosted by this worker")
        : error
      reply.resolve(.failure(refusal))
    }
  }

  private func handleResponse(_ response: Agents_RpcResponse) {
    guard let reply = pending.withLock({ $0.replies.removeValue(forKey: response.requestID) }) else {
      logger.debug("response for an unknown or expired request dropped", metadata: ["request-id": "\(response.requestID)"])
      return
    }
    if let error = response.runtimeError {
      reply.resolve(.failure(error))
      return
    }
    let payload = response.payload
    if payload.dataType.isEmpty && payload.data.isEmpty {
      reply.resolve(.success(nil))
      return
    }
    do {
      reply.resolve(.success(try serializers.deserialize(SerializedPayload(wire: payload))))
    } catch {
      reply.resolve(.failure(error))
    }
  }

  private func handleEvent(_ wire: Io_Cloudevents_V1_CloudEvent) {
    let event: PublishedEvent
    let message: any Sendable
    do {
      event = try PublishedEvent(wire: wire)
      guard [ContentType.json, ContentType.protobuf].contains(event.payload.contentType) else {
        throw AgentRuntimeError(
          code: .invalidArgument, message: "unsupported content type '\(event.payload.contentType)'")
      }
      message = try serializers.deserialize(event.payload)
    } catch {
      logger.warning("published message dropped", metadata: ["event-id": "\(wire.id)", "error": "\(error)"])
      return
    }
    var recipients = subscriptionSet.withLock { $0.recipients(for: event.topic) }
    if let hint = event.recipientTypes {
      recipients.removeAll { !hint.contains($0.type) }
    }
    for recipient in recipients where recipient != event.sender && agents.isRegistered(recipient.type) {
      let context = MessageContext(
        recipient: recipient, sender: event.sender, topic: event.topic, isRPC: false, messageId: event.messageId)
      do {
        try agents.deliver(LocalAgents.Envelope(message: message, context: context, reply: nil), runtime: self)
      } catch {
        logger.warning("published message not delivered", metadata: ["recipient": "\(recipient)", "error": "\(error)"])
      }
    }
  }
}

/// Runs a ``GrpcWorkerRuntime`` connected to its host for the duration of `body`, then shuts it
/// down gracefully (in-flight handlers finish first).
public func withGrpcWorker<Result: Sendable>(
  configuration: GrpcWorkerRuntime.Configuration,
  serializers: SerializationRegistry,
  logger: Logger = Logger(label: "agents.worker"),
  _ body: @Sendable (GrpcWorkerRuntime) async throws -> Result
) async throws -> Result {
  try await withRunningService(
    GrpcWorkerRuntime(configuration: configuration, serializers: serializers, logger: logger),
    run: { try await $0.run() },
    ready: { _ = try await $0.clientId() },
    shutdown: { $0.shutdown() },
    body
  )
}

extension HostAddress {
  var resolvableTarget: any ResolvableTarget {
    if isIPv6 { return .ipv6(address: host, port: port) }
    if host.split(separator: ".").count == 4, host.split(separator: ".").allSatisfy({ UInt8($0) != nil }) {
      return .ipv4(address: host, port: port)
    }
    return .dns(host: host, port: port)
  }
}
