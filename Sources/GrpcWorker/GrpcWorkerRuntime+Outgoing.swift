public import AgentCore
import AgentWire
import Foundation
import GRPCCore
import Logging
import SwiftProtobuf
import Synchronization
import Tracing

extension GrpcWorkerRuntime {
  // MARK: Messaging

  /// Puts `message` on the live connection. Returns false when there is none.
  func enqueue(_ message: Agents_Message) -> Bool {
    link.withLock { $0.send(message) }
  }

  public func send(
    _ message: any Sendable,
    to recipient: AgentId,
    options: SendOptions
  ) async throws -> (any Sendable)? {
    try await call(message, to: recipient, options: options, onChunk: nil)
  }

  /// Sends a direct message and streams the handler's chunks to `onChunk` (see
  /// `AgentRuntime/send(_:to:options:onChunk:)`). Chunks travel as
  /// `StreamedCallWire` describes; they need our host (AutoGen's host delivers the result only).
  public func send(
    _ message: any Sendable,
    to recipient: AgentId,
    options: SendOptions,
    onChunk: @escaping @Sendable (any Sendable) -> Void
  ) async throws -> (any Sendable)? {
    try await call(message, to: recipient, options: options, onChunk: onChunk)
  }

  private func call(
    _ message: any Sendable,
    to recipient: AgentId,
    options: SendOptions,
    onChunk: (@Sendable (any Sendable) -> Void)?
  ) async throws -> (any Sendable)? {
    guard !agents.isShutDown else { throw LocalAgents.shutDownError }
    let timeout = options.timeout ?? configuration.defaultRPCTimeout
    let deadline = ContinuousClock.now + timeout
    let payload = try serialize(message)
    try checkSize(payload, "the message to \(recipient)")
    let sender = options.sender ?? MessageContext.current?.recipient
    return try await tracing.send(to: recipient, message: message) { span in
      // Each chunk received is an event on the call's span.
      let onChunk = onChunk.map { onChunk in
        { @Sendable (chunk: any Sendable, sequence: UInt64) in
          MessageTracing.chunk(span, sequence: sequence, message: chunk)
          onChunk(chunk)
        }
      }
      return try await call(payload, to: recipient, sender: sender, timeout: timeout, deadline: deadline, onChunk: onChunk, span: span)
    }
  }

  private func call(
    _ payload: SerializedPayload,
    to recipient: AgentId,
    sender: AgentId?,
    timeout: Duration,
    deadline: ContinuousClock.Instant,
    onChunk: (@Sendable (_ chunk: any Sendable, _ sequence: UInt64) -> Void)?,
    span: (any Span)?
  ) async throws -> (any Sendable)? {
    let reply = OneShot<(any Sendable)?>()
    let requestId = pending.withLock { pending in
      let id = String(pending.nextRequestId)
      pending.nextRequestId += 1
      pending.replies[id] = reply
      if let onChunk { pending.chunkHandlers[id] = onChunk }
      return id
    }
    defer {
      pending.withLock {
        $0.replies[requestId] = nil
        $0.chunkHandlers[requestId] = nil
      }
    }
    let request = Agents_RpcRequest.with {
      $0.requestID = requestId
      $0.target = Agents_AgentId(recipient)
      if let sender { $0.source = Agents_AgentId(sender) }
      $0.payload = Agents_Payload(payload)
      $0.metadata[RpcTimeout.metadataKey] = RpcTimeout.wireValue(timeout)
      if onChunk != nil { $0.metadata[StreamedCallWire.requestKey] = "1" }
      tracing.inject(into: &$0.metadata)  // the callee's handler continues this trace
    }
    let frame = Agents_Message.with { $0.request = request }
    // While disconnected, wait for the connection within this call's deadline (each wait is a
    // retry on the call's span).
    var retries = 0
    defer { if retries > 0 { span?.attributes["agents.retries"] = retries } }
    while !enqueue(frame) {
      retries += 1
      do {
        _ = try await awaitConnection(within: max(.zero, deadline - .now))
      } catch let error as AgentRuntimeError where error.code == .unavailable && link.withLock({ $0.failure == nil }) {
        throw AgentRuntimeError(
          code: .unavailable,
          message: "cannot reach \(recipient): not connected to \(configuration.hostsDescription) within \(timeout.secondsDescription)",
          cause: error)
      }
    }
    do {
      return try await reply.await(timeout: max(.zero, deadline - .now), from: recipient, callerTimeout: timeout)
    } catch let error as AgentRuntimeError where error.code == .cancelled {
      // Tell the host this caller has gone, so the callee's handler is cancelled now rather than
      // at its deadline.
      _ = enqueue(.with { $0.cloudEvent = .cancelNotice(requestId: requestId) })
      throw error
    }
  }

  public func publish(
    _ message: any Sendable,
    to topic: TopicId,
    options: PublishOptions
  ) async throws {
    var wire = try event(message, to: topic, options: options)
    try await tracing.publish(to: topic, message: message, messageId: wire.id) { span in
      // The recipients' handlers continue this trace (AutoGen's worker reads it from the attributes).
      var trace: [String: String] = [:]
      tracing.inject(into: &trace)
      for (key, value) in trace { wire.attributes[key] = .with { $0.ceString = value } }
      if try !sendEvent(wire, to: topic) {
        span?.addEvent("buffered until the worker reconnects")
      }
    }
  }

  /// The CloudEvent that publishes `message` to `topic`.
  func event(_ message: any Sendable, to topic: TopicId, options: PublishOptions) throws -> Io_Cloudevents_V1_CloudEvent {
    guard !agents.isShutDown else { throw LocalAgents.shutDownError }
    let event = PublishedEvent(
      topic: topic,
      sender: options.sender ?? MessageContext.current?.recipient,
      messageId: options.messageId ?? UUID().uuidString,
      payload: try serialize(message)
    )
    try checkSize(event.payload, "the message published to \(topic)")
    return try Io_Cloudevents_V1_CloudEvent(event)
  }

  /// Sends the CloudEvent `wire`, published to `topic` (true), or buffers it while disconnected
  /// (false).
  @discardableResult
  func sendEvent(_ wire: Io_Cloudevents_V1_CloudEvent, to topic: TopicId) throws -> Bool {
    let host = configuration.host
    let frame = Agents_Message.with { $0.cloudEvent = wire }
    return try link.withLock { link throws(AgentRuntimeError) in try link.publish(frame, topicType: topic.type, host: host) }
  }
}
