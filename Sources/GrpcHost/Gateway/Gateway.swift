package import AgentCore
package import AgentWire
import Foundation
import Logging
import SwiftProtobuf
import Synchronization

/// The door for callers that do not speak the worker protocol: the HTTP/JSON routes and the
/// `agents.gateway.v1.Gateway` gRPC service both call this.
///
/// The gateway is a caller inside the host: it holds one channel in the router (client id
/// ``clientId``), so its calls get everything a worker's call gets (placement, host-unique request
/// ids, the host's RPC timeout, an error when the callee's worker leaves or the host shuts down).
/// Its publishes are routed as a worker's are, and its taps read the router's ``EventTap``.
package final class Gateway: Sendable {
  /// The client id of the gateway's channel in the router. A worker cannot use it.
  package static let clientId = "agents-gateway"

  private struct Call {
    var reply: OneShot<Agents_RpcResponse>
    var onChunk: (@Sendable (PublishedEvent) -> Void)?
  }

  private struct Calls {
    var waiting: [String: Call] = [:]
    var nextId: UInt64 = 1
  }

  let router: HostRouter
  /// The largest message the gateway accepts, in bytes (the host's `--max-message-size`).
  package let maxMessageSize: Int
  private let logger: Logger
  private let link: WorkerLink
  private let calls = Mutex(Calls())

  /// Opens the gateway's channel in `router` (a new one, before workers connect).
  init(router: HostRouter, maxMessageSize: Int, logger: Logger) {
    self.router = router
    self.maxMessageSize = maxMessageSize
    self.logger = logger
    self.link = router.connectInternal(clientId: Self.clientId)
  }

  /// The longest a call may wait: the host's RPC timeout.
  package var maxTimeout: Duration { router.rpcTimeout }

  /// Delivers what the router sends the gateway's channel (responses and chunks) to the waiting
  /// calls, until the host shuts down.
  func run() async {
    while let frames = await link.outbound.next() {
      for frame in frames {
        switch frame {
        case .response(let raw):
          guard let call = calls.withLock({ $0.waiting[raw.requestId] }) else { continue }
          do {
            call.reply.resolve(.success(try raw.decoded()))
          } catch {
            call.reply.resolve(.failure(AgentRuntimeError(code: .internalError, message: "malformed response: \(error)")))
          }
        case .event(let raw):
          guard let requestId = StreamedCallWire.requestId(ofTopicType: raw.type),
            let onChunk = calls.withLock({ $0.waiting[String(requestId)]?.onChunk })
          else { continue }
          do {
            onChunk(try PublishedEvent(wire: try raw.decoded()))
          } catch {
            logger.warning("malformed chunk dropped", metadata: ["request-id": "\(requestId)", "error": "\(error)"])
          }
        case .request, .empty, .oversized:
          continue
        }
      }
    }
    let waiting = calls.withLock { calls in
      defer { calls.waiting = [:] }
      return calls.waiting.values
    }
    for call in waiting {
      call.reply.resolve(.failure(AgentRuntimeError(code: .unavailable, message: "the host is shutting down")))
    }
  }

  // MARK: Calls

  /// Calls `target` with `payload` and returns its answer (nil when the handler returned nothing).
  ///
  /// - Parameters:
  ///   - timeout: how long to wait, at most the host's RPC timeout (also the default).
  ///   - onChunk: when set, the call asks for a streamed answer and each chunk is passed here, in
  ///     order, before this returns.
  /// - Throws: ``AgentCore/AgentRuntimeError`` — `.resourceExhausted` over the size limit,
  ///   `.unknownAgentType`, `.handlerFailed` with the agent's text, `.deadlineExceeded`,
  ///   `.unavailable` (shutting down, callee gone), `.cancelled` when the calling task is cancelled
  ///   (the callee is told, and a Swift handler is cancelled).
  package func invoke(
    _ payload: SerializedPayload,
    to target: AgentId,
    timeout: Duration? = nil,
    onChunk: (@Sendable (PublishedEvent) -> Void)? = nil
  ) async throws -> SerializedPayload? {
    try await call(payload, to: target, timeout: timeout, onChunk: onChunk).answer()
  }

  /// Starts a call (see ``invoke(_:to:timeout:onChunk:)``): the request is on its way when this
  /// returns. Await its ``GatewayCall/answer()`` once; ``GatewayCall/end(_:)`` ends it early.
  package func call(
    _ payload: SerializedPayload,
    to target: AgentId,
    timeout: Duration? = nil,
    onChunk: (@Sendable (PublishedEvent) -> Void)? = nil
  ) throws(AgentRuntimeError) -> GatewayCall {
    try checkSize(payload, "the message to \(target)")
    let timeout = min(timeout ?? maxTimeout, maxTimeout)
    let reply = OneShot<Agents_RpcResponse>()
    let requestId = calls.withLock { calls in
      let id = "g\(calls.nextId)"
      calls.nextId += 1
      calls.waiting[id] = Call(reply: reply, onChunk: onChunk)
      return id
    }
    let request = Agents_RpcRequest.with {
      $0.requestID = requestId
      $0.target = Agents_AgentId(target)
      $0.payload = Agents_Payload(payload)
      $0.metadata[RpcTimeout.metadataKey] = RpcTimeout.wireValue(timeout)
      if onChunk != nil { $0.metadata[StreamedCallWire.requestKey] = "1" }
      // The caller's trace context goes on to the agent, whose handler span continues it.
      $0.metadata.merge(ForwardedTrace.outgoing(router.tracing)) { ours, _ in ours }
    }
    router.route(.request(RawRpcRequest(request)), from: link)
    return GatewayCall(gateway: self, requestId: requestId, target: target, timeout: timeout, reply: reply)
  }

  /// A call's answer is in (or it ended): forget it, and when it ended without one, tell the
  /// router, which tells the callee.
  func finish(_ requestId: String, answered: Bool) {
    _ = calls.withLock { $0.waiting.removeValue(forKey: requestId) }
    if !answered { router.abandon(callerRequestId: requestId, caller: link) }
  }

  // MARK: Publishing

  /// Publishes `payload` to `topic` and returns the event id.
  @discardableResult
  package func publish(_ payload: SerializedPayload, to topic: TopicId, messageId: String? = nil) throws -> String {
    let event = PublishedEvent(topic: topic, sender: nil, messageId: messageId ?? UUID().uuidString, payload: payload)
    try checkSize(payload, "the message published to \(topic)")
    try publish(try GatewayJSON.wireEvent(event))
    return event.messageId
  }

  /// Publishes a CloudEvent as it is (its `type` and `source` are the topic) and returns its id.
  @discardableResult
  package func publish(_ event: Io_Cloudevents_V1_CloudEvent) throws -> String {
    _ = try TopicId(type: event.type, source: event.source)
    var event = event
    for (key, value) in ForwardedTrace.outgoing(router.tracing) where event.attributes[key] == nil {
      event.attributes[key] = .with { $0.ceString = value }
    }
    let bytes: [UInt8]
    do {
      bytes = try event.serializedBytes()
    } catch {
      throw AgentRuntimeError(code: .invalidArgument, message: "the CloudEvent cannot be serialized: \(error)")
    }
    guard bytes.count <= maxMessageSize else {
      throw AgentRuntimeError(
        code: .resourceExhausted,
        message: "the event is \(bytes.count) bytes, over the host's limit of \(maxMessageSize) bytes (--max-message-size)")
    }
    router.route(.event(try RawCloudEvent(bytes: bytes)), from: link)
    return event.id
  }

  // MARK: Looking

  /// Every served agent type with its connected workers and subscriptions.
  var agentTypes: [HostRouter.AgentTypeSummary] { router.agentTypes }

  /// A passive reader of published events matching `filter`; see ``EventTap/open(_:after:)``.
  package func tap(_ filter: TapFilter, after sequence: UInt64? = nil) -> TapReader {
    router.tap.open(filter, after: sequence)
  }

  // MARK: Permissions

  /// Refuses `action` on `target` unless `identity` may do it (an audit line and a count).
  package func authorize(_ identity: Identity, _ action: Permissions.Action, _ target: String) throws(AgentRuntimeError) {
    guard identity.allows(action, target) else { throw router.denied(identity, action, target) }
  }

  /// Refuses a topic stream on `filter` unless `identity` may watch every topic it matches.
  package func authorizeWatch(_ identity: Identity, _ filter: TapFilter) throws(AgentRuntimeError) {
    guard filter.isPrefix else { return try authorize(identity, .watch, filter.topicType) }
    guard identity.allows(.watch, everyNameWithPrefix: filter.topicType) else {
      throw router.denied(identity, .watch, filter.topicType + "*")
    }
  }

  private func checkSize(_ payload: SerializedPayload, _ what: @autoclosure () -> String) throws(AgentRuntimeError) {
    guard payload.data.count <= maxMessageSize else {
      throw AgentRuntimeError(
        code: .resourceExhausted,
        message: "\(what()) is \(payload.data.count) bytes, over the host's limit of \(maxMessageSize) bytes (--max-message-size)")
    }
  }
}

/// The W3C trace context (`traceparent`, `tracestate`) a gateway caller sent, passed on to the
/// agents it reaches (in `RpcRequest.metadata`, or the CloudEvent's attributes) so that their
/// handlers' spans join the caller's trace. Bound per request by the HTTP and gRPC gateways.
///
/// When the host traces, the gateway's own span continues the caller's context instead, and
/// its context is what goes on.
enum ForwardedTrace {
  @TaskLocal static var headers: [String: String] = [:]
  static let names = ["traceparent", "tracestate"]

  /// The trace context to send on: the current span's when the host traces, else the caller's.
  static func outgoing(_ tracing: MessageTracing) -> [String: String] {
    guard tracing.isOn else { return headers }
    var carrier: [String: String] = [:]
    tracing.inject(into: &carrier)
    return carrier.isEmpty ? headers : carrier
  }

  /// The trace headers `value` gives (a header or metadata lookup by name); over-long ones are
  /// left out.
  static func headers(_ value: (String) -> String?) -> [String: String] {
    var headers: [String: String] = [:]
    for name in names {
      if let text = value(name), !text.isEmpty, text.utf8.count <= 512 { headers[name] = text }
    }
    return headers
  }
}
