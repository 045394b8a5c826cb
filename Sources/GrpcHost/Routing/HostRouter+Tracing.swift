import AgentCore
import AgentWire
import Tracing

/// The host's own spans, with the tracer installed when the host was created (see
/// `MessageTracing`); none at all when tracing is off, and no frame is read for trace context then.
///
/// - Every RPC the host routes is a `route TYPE` span (server), the child of the caller's span
///   (the context in `RpcRequest.metadata`) or a new trace. The forwarded request carries the
///   span's own context, so the handler's `handle TYPE` span is its child. It ends when the answer
///   passes through, or the host answers instead (deadline, callee gone, refusal, shutdown), with
///   the outcome; chunks of a streamed call are its events.
/// - A publish, sampled by `AgentHost.Configuration.tracePublishRatio`, is a `deliver TOPIC` span
///   (consumer), the child of the publisher's span; the copies it sends carry its context, so the
///   recipients' `process TOPIC` spans are its children.
///
/// Payloads are never parsed: only the metadata map or the CloudEvent's string attributes, where
/// the trace context travels.
extension HostRouter {
  /// Starts the span of an RPC to `target`, and points the request's trace context at it; nil
  /// (and nothing read) when the host does not trace.
  func startRouteSpan(_ request: inout RawRpcRequest, target: String, from link: WorkerLink) -> (any Span)? {
    guard let tracer = tracing.tracer else { return nil }
    let parent = tracing.extract(from: request.metadata())
    let span = tracer.startSpan("route \(target)", context: parent ?? .topLevel, ofKind: .server)
    span.attributes["rpc.system"] = "agents"
    span.attributes["agents.caller.worker"] = link.clientId
    span.attributes["agents.caller.identity"] = link.identity.name
    var carrier: [String: String] = [:]
    tracer.inject(span.context, into: &carrier, using: DictionaryInjector())
    for (key, value) in carrier { request.setMetadata(key, value) }
    return span
  }

  /// Ends an RPC's span: answered by `response`, or failed with `error` (the host answered).
  static func endRouteSpan(_ span: (any Span)?, response: RawRpcResponse? = nil, error: AgentRuntimeError? = nil) {
    guard let span else { return }
    if let error {
      span.attributes["agents.outcome"] = error.code.description
      MessageTracing.failed(span, error)
    } else if let response, response.isError {
      span.attributes["agents.outcome"] = "handler-failed"
      span.setStatus(SpanStatus(code: .error, message: response.errorText))
    } else {
      span.attributes["agents.outcome"] = "ok"
    }
    span.end()
  }

  /// Starts the span of a publish to `topic`, when it is sampled, and points the copies' trace
  /// context at it.
  func startDeliverSpan(_ event: inout RawCloudEvent, topic: TopicId, from link: WorkerLink) -> (any Span)? {
    guard let tracer = tracing.tracer, tracePublishRatio >= 1 || Double.random(in: 0..<1) < tracePublishRatio else { return nil }
    let parent = tracing.extract(from: event.stringAttributes())
    let span = tracer.startSpan("deliver \(topic.type)", context: parent ?? .topLevel, ofKind: .consumer)
    span.attributes["messaging.system"] = "agents"
    span.attributes["messaging.operation.type"] = "receive"
    span.attributes["messaging.destination.name"] = topic.type
    span.attributes["messaging.message.id"] = event.id
    span.attributes["agents.topic"] = topic.description
    span.attributes["agents.publisher.worker"] = link.clientId
    var carrier: [String: String] = [:]
    tracer.inject(span.context, into: &carrier, using: DictionaryInjector())
    for (key, value) in carrier { event.appendStringAttribute(key, value) }
    return span
  }
}
