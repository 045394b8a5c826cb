package import Tracing

/// How the runtimes trace messages, with swift-distributed-tracing.
///
/// A runtime takes the tracer that is installed when it is created: the one the process
/// bootstrapped (`InstrumentationSystem.bootstrap`, which a program does first), or the one the
/// creating task bound (`withTracer`). With none (the no-op tracer) ``current`` has no tracer, and
/// every method below returns at its first line: no span, no names or attributes built, no
/// lookup of the tracer per message.
///
/// - A caller's RPC is a `send TYPE` span (client); the handler's is `handle TYPE` (server), its
///   child, across processes too: the trace context travels in `RpcRequest.metadata` (W3C
///   `traceparent`/`tracestate` with an OpenTelemetry tracer), as AutoGen's Python worker sends it.
/// - A publish is a `publish TOPIC` span (producer); each recipient's handler a `process TOPIC`
///   span (consumer), its child; the context travels in the CloudEvent's attributes, where AutoGen's
///   worker looks for it.
/// - A streamed call's chunks are events on those spans (`chunk`, with its sequence number), not
///   spans of their own.
/// - Attributes follow OpenTelemetry's messaging and RPC conventions where they fit, and
///   `agents.*` for the rest: recipient agent, sender, message type, topic.
package struct MessageTracing: Sendable {
  /// The tracer spans go to; nil when tracing is off.
  package let tracer: (any Tracer)?

  package init(tracer: (any Tracer)?) {
    self.tracer = tracer.flatMap { $0 is NoOpTracer ? nil : $0 }
  }

  /// Tracing with the tracer installed now (bound to this task, else bootstrapped), or off.
  package static var current: MessageTracing { MessageTracing(tracer: InstrumentationSystem.tracer) }

  /// Whether spans are made at all.
  package var isOn: Bool { tracer != nil }

  /// The span around a call: `send TYPE`, a client span. `body` gets it (to record chunks on), or
  /// nil when tracing is off.
  package func send<T>(
    to recipient: AgentId, message: any Sendable, _ body: ((any Span)?) async throws -> T
  ) async throws -> T {
    guard let tracer else { return try await body(nil) }
    return try await Self.withSpan(tracer, "send \(recipient.type)", ofKind: .client) { span in
      span.attributes["rpc.system"] = "agents"
      span.attributes["rpc.method"] = Self.messageType(message)
      span.attributes["agents.recipient"] = recipient.description
      return try await body(span)
    }
  }

  /// The span around a publish: `publish TOPIC`, a producer span. `body` gets it, or nil when
  /// tracing is off.
  package func publish<T>(
    to topic: TopicId, message: any Sendable, messageId: String, _ body: ((any Span)?) async throws -> T
  ) async throws -> T {
    guard let tracer else { return try await body(nil) }
    return try await Self.withSpan(tracer, "publish \(topic.type)", ofKind: .producer) { span in
      span.attributes["messaging.system"] = "agents"
      span.attributes["messaging.operation.type"] = "publish"
      span.attributes["messaging.destination.name"] = topic.type
      span.attributes["messaging.message.id"] = messageId
      span.attributes["agents.topic"] = topic.description
      span.attributes["agents.message.type"] = Self.messageType(message)
      return try await body(span)
    }
  }

  /// Starts the span of a handler: `handle TYPE` (server) for an RPC, `process TOPIC` (consumer)
  /// for a published message, continuing `parent` (the sender's context) when there is one. Nil
  /// when tracing is off.
  package func startHandling(_ context: MessageContext, message: any Sendable, parent: ServiceContext?) -> (any Span)? {
    guard let tracer else { return nil }
    let span: any Span
    if let topic = context.topic, !context.isRPC {
      span = tracer.startSpan("process \(topic.type)", context: parent ?? .topLevel, ofKind: .consumer)
      span.attributes["messaging.system"] = "agents"
      span.attributes["messaging.operation.type"] = "process"
      span.attributes["messaging.destination.name"] = topic.type
      span.attributes["messaging.message.id"] = context.messageId
      span.attributes["agents.topic"] = topic.description
    } else {
      span = tracer.startSpan("handle \(context.recipient.type)", context: parent ?? .topLevel, ofKind: .server)
      span.attributes["rpc.system"] = "agents"
      span.attributes["rpc.method"] = Self.messageType(message)
    }
    span.attributes["agents.agent"] = context.recipient.description
    span.attributes["agents.message.type"] = Self.messageType(message)
    if let sender = context.sender { span.attributes["agents.sender"] = sender.description }
    return span
  }

  /// Records a handler's failure on its span.
  package static func failed(_ span: any Span, _ error: any Error) {
    span.recordError(error)
    span.setStatus(SpanStatus(code: .error, message: "\(error)"))
    if let error = error as? AgentRuntimeError { span.attributes["agents.error.code"] = error.code.description }
  }

  /// Records a streamed call's chunk on `span` (the handler's, which sent it, or the caller's,
  /// which received it): an event rather than a span per chunk.
  package static func chunk(_ span: (any Span)?, sequence: UInt64, message: any Sendable) {
    guard let span else { return }
    chunk(span, sequence: sequence, messageType: messageType(message))
  }

  /// Records a streamed call's chunk on `span`; `messageType` when it is known (the host does not
  /// read payloads).
  package static func chunk(_ span: (any Span)?, sequence: UInt64, messageType: String?) {
    guard let span else { return }
    var attributes: SpanAttributes = ["agents.chunk.sequence": .int64(Int64(truncatingIfNeeded: sequence))]
    if let messageType { attributes["agents.message.type"] = messageType }
    span.addEvent(SpanEvent(name: "chunk", attributes: attributes))
  }

  /// The current trace context, written into `carrier` (RPC metadata, CloudEvent attributes).
  package func inject(into carrier: inout [String: String]) {
    guard let tracer, let context = ServiceContext.current else { return }
    tracer.inject(context, into: &carrier, using: DictionaryInjector())
  }

  /// The trace context `carrier()` carries, if any (`carrier` is not called when tracing is off).
  package func extract(from carrier: @autoclosure () -> [String: String]) -> ServiceContext? {
    guard let tracer else { return nil }
    let carrier = carrier()
    guard !carrier.isEmpty else { return nil }
    var context = ServiceContext.topLevel
    tracer.extract(carrier, into: &context, using: DictionaryExtractor())
    return context.isEmpty ? nil : context
  }

  /// Runs `body` in a new span, the child of the task's current one, which it ends when `body` returns
  /// or throws (recording the error).
  package static func withSpan<T>(
    _ tracer: any Tracer, _ name: String, ofKind kind: SpanKind, _ body: (any Span) async throws -> T
  ) async throws -> T {
    let span: any Span = tracer.startSpan(name, context: ServiceContext.current ?? .topLevel, ofKind: kind)
    defer { span.end() }
    do {
      return try await ServiceContext.withValue(span.context) { try await body(span) }
    } catch {
      failed(span, error)
      throw error
    }
  }

  package static func messageType(_ message: any Sendable) -> String {
    String(describing: type(of: message))
  }
}

/// Writes trace headers into a `[String: String]` (RPC metadata, CloudEvent attributes).
package struct DictionaryInjector: Injector {
  package init() {}

  package func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
    carrier[key] = value
  }
}

/// Reads trace headers from a `[String: String]`.
package struct DictionaryExtractor: Extractor {
  package init() {}

  package func extract(key: String, from carrier: [String: String]) -> String? {
    carrier[key]
  }
}
