package import Tracing

/// How the runtimes trace messages, with swift-distributed-tracing: whatever tracer the process
/// bootstrapped (`InstrumentationSystem.bootstrap`) or the task bound (`withTracer`); with none,
/// the no-op tracer, and spans cost next to nothing.
///
/// - A caller's RPC is a `send TYPE` span (client); the handler's is `handle TYPE` (server), its
///   child, across processes too: the trace context travels in `RpcRequest.metadata` (W3C
///   `traceparent`/`tracestate` with an OpenTelemetry tracer), as AutoGen's Python worker sends it.
/// - A publish is a `publish TOPIC` span (producer); each recipient's handler a `process TOPIC`
///   span (consumer), its child; the context travels in the CloudEvent's attributes, where AutoGen's
///   worker looks for it.
/// - Attributes follow OpenTelemetry's messaging and RPC conventions where they fit, and
///   `agents.*` for the rest: recipient agent, sender, message type, topic.
package enum MessageTracing {
  /// Whether a tracer is installed: without one, messages make no spans at all (no names or
  /// attributes are even built).
  package static var isTracing: Bool { !(InstrumentationSystem.tracer is NoOpTracer) }

  /// The span around a call: `send TYPE`, a client span.
  package static func send<T>(to recipient: AgentId, message: any Sendable, _ body: () async throws -> T) async throws -> T {
    guard isTracing else { return try await body() }
    return try await withSpan("send \(recipient.type)", ofKind: .client) { span in
      span.attributes["rpc.system"] = "agents"
      span.attributes["rpc.method"] = messageType(message)
      span.attributes["agents.recipient"] = recipient.description
      return try await body()
    }
  }

  /// The span around a publish: `publish TOPIC`, a producer span.
  package static func publish<T>(
    to topic: TopicId, message: any Sendable, messageId: String, _ body: () async throws -> T
  ) async throws -> T {
    guard isTracing else { return try await body() }
    return try await withSpan("publish \(topic.type)", ofKind: .producer) { span in
      span.attributes["messaging.system"] = "agents"
      span.attributes["messaging.operation.type"] = "publish"
      span.attributes["messaging.destination.name"] = topic.type
      span.attributes["messaging.message.id"] = messageId
      span.attributes["agents.topic"] = topic.description
      span.attributes["agents.message.type"] = messageType(message)
      return try await body()
    }
  }

  /// Starts the span of a handler: `handle TYPE` (server) for an RPC, `process TOPIC` (consumer)
  /// for a published message, continuing `parent` (the sender's context) when there is one. Nil
  /// when no tracer is installed.
  package static func startHandling(_ context: MessageContext, message: any Sendable, parent: ServiceContext?) -> (any Span)? {
    guard isTracing else { return nil }
    let span: any Span
    if let topic = context.topic, !context.isRPC {
      span = startSpan("process \(topic.type)", context: parent ?? .topLevel, ofKind: .consumer)
      span.attributes["messaging.system"] = "agents"
      span.attributes["messaging.operation.type"] = "process"
      span.attributes["messaging.destination.name"] = topic.type
      span.attributes["messaging.message.id"] = context.messageId
      span.attributes["agents.topic"] = topic.description
    } else {
      span = startSpan("handle \(context.recipient.type)", context: parent ?? .topLevel, ofKind: .server)
      span.attributes["rpc.system"] = "agents"
      span.attributes["rpc.method"] = messageType(message)
    }
    span.attributes["agents.agent"] = context.recipient.description
    span.attributes["agents.message.type"] = messageType(message)
    if let sender = context.sender { span.attributes["agents.sender"] = sender.description }
    return span
  }

  /// Records a handler's failure on its span.
  package static func failed(_ span: any Span, _ error: any Error) {
    span.recordError(error)
    span.setStatus(SpanStatus(code: .error, message: "\(error)"))
    if let error = error as? AgentRuntimeError { span.attributes["agents.error.code"] = error.code.description }
  }

  /// The current trace context, written into `carrier` (RPC metadata, CloudEvent attributes).
  package static func inject(into carrier: inout [String: String]) {
    guard isTracing, let context = ServiceContext.current else { return }
    InstrumentationSystem.instrument.inject(context, into: &carrier, using: DictionaryInjector())
  }

  /// The trace context that `carrier()` carries, if any (`carrier` is not called without a tracer).
  package static func extract(from carrier: @autoclosure () -> [String: String]) -> ServiceContext? {
    guard isTracing else { return nil }
    let carrier = carrier()
    guard !carrier.isEmpty else { return nil }
    var context = ServiceContext.topLevel
    InstrumentationSystem.instrument.extract(carrier, into: &context, using: DictionaryExtractor())
    return context.isEmpty ? nil : context
  }

  private static func messageType(_ message: any Sendable) -> String {
    String(describing: type(of: message))
  }
}

private struct DictionaryInjector: Injector {
  func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
    carrier[key] = value
  }
}

private struct DictionaryExtractor: Extractor {
  func extract(key: String, from carrier: [String: String]) -> String? {
    carrier[key]
  }
}
