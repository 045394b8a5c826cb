import AgentCore
import AgentWire
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// The host's HTTP listener (Hummingbird): the gateway's JSON and SSE routes under `/v1`, plus
/// `/healthz`, `/metrics` and `/openapi.json`. `docs/openapi.json` describes every route.
struct HTTPGateway: Sendable {
  let gateway: Gateway
  let authenticator: Authenticator
  /// Where topic streams are recorded, for revocation.
  let openStreams: OpenStreams
  /// How often an idle SSE stream gets a keepalive comment.
  let keepAliveInterval: Duration
  /// The least time between two writes to one tap reader: events that arrive meanwhile go out in
  /// the next write, so a busy topic costs each reader a wake-up and a write per interval, not per
  /// event.
  let tapFlushInterval: Duration
  /// When the host started serving (the console's uptime).
  let startedAt: Date
  let isServing: @Sendable () -> Bool
  let metrics: @Sendable () -> [UInt8]
  /// The cluster as this node sees it; nil for a single host.
  let cluster: @Sendable () -> AgentHost.ClusterStatus?
  /// Ends plain calls whose client went away.
  let connections = ConnectionCloseWatch()

  static let messageTypeHeader = HTTPField.Name("Agent-Message-Type")!
  static let lastEventIDHeader = HTTPField.Name("Last-Event-ID")!

  func makeRouter() -> Router<GatewayRequestContext> {
    let router = Router(context: GatewayRequestContext.self)
    router.get("/healthz") { _, _ -> Response in
      // A node with a cluster problem still serves (it routes with what it knows): it says so.
      let health = Health(status: isServing() ? "serving" : "not-serving", cluster: cluster().map(Health.Cluster.init))
      return Self.json(isServing() ? .ok : .serviceUnavailable, GatewayJSON.encoded(health))
    }
    router.get("/metrics") { _, _ -> Response in
      Response(
        status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
        body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics())))
    }
    router.get("/openapi.json") { _, _ -> Response in
      Self.json(.ok, Data(GatewayOpenAPI.document.utf8))
    }
    let v1 = router.group("v1").add(middleware: AuthenticationMiddleware(authenticator: authenticator))
      .add(middleware: ForwardedTraceMiddleware())
    v1.get("agent-types") { _, _ -> Response in listAgentTypes() }
    v1.get("cluster") { _, _ -> Response in
      await Self.answering {
        guard let status = cluster() else {
          throw AgentRuntimeError(code: .notFound, message: "this host is not a node of a cluster (runtime-host --cluster)")
        }
        return Self.json(.ok, GatewayJSON.encoded(status))
      }
    }
    addConsoleRoutes(to: router, v1: v1)
    // Calls and publishes get a server span when the host traces (the caller's `traceparent`
    // continued, or a new trace), whose context goes on to the agents. Nothing else is traced:
    // not the console's polling, nor hours-long topic streams.
    let traced = gateway.router.tracing.isOn ? v1.group().add(middleware: TracingMiddleware()) : v1.group()
    traced.post("agents/{type}/{key}") { request, context -> Response in
      await Self.answering { try await invoke(request, context) }
    }
    traced.post("topics/{type}/{source}") { request, context -> Response in
      await Self.answering { try await publish(request, context) }
    }
    traced.post("topics/{type}/events") { request, context -> Response in
      await Self.answering { try await publish(request, context, source: "events") }
    }
    v1.get("topics/{type}/events") { request, context -> Response in
      await Self.answering { try await tail(request, context) }
    }
    // Other methods on these paths: 405 with Allow, not the router's 404.
    for (path, allowed) in [
      ("/healthz", [HTTPRequest.Method.get]), ("/metrics", [.get]), ("/openapi.json", [.get]), ("/v1/agent-types", [.get]),
      ("/v1/overview", [.get]), ("/v1/workers", [.get]), ("/v1/cluster", [.get]),
      ("/v1/agents/{type}/{key}", [.post]), ("/v1/topics/{type}/{source}", [.post]), ("/v1/topics/{type}/events", [.get, .post]),
    ] {
      for method in Self.methods where !allowed.contains(method) {
        router.on(RouterPath(path), method: method) { _, _ -> Response in
          Self.json(
            .methodNotAllowed,
            GatewayJSON.error(AgentRuntimeError(code: .invalidArgument, message: "\(method) is not allowed on \(path)")),
            headers: [.allow: allowed.map(\.rawValue).joined(separator: ", ")])
        }
      }
    }
    return router
  }

  private static let methods: [HTTPRequest.Method] = [
    .get, .head, .post, .put, .delete, .patch, .options, .trace, .connect, HTTPRequest.Method("QUERY")!,
  ]

  // MARK: Routes

  private func listAgentTypes() -> Response {
    Self.json(.ok, GatewayJSON.encoded(AgentTypeListing(gateway.agentTypes)))
  }

  private func invoke(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
    let target = try AgentId(type: try Self.parameter("type", context), key: try Self.parameter("key", context))
    try gateway.authorize(context.identity, .call, target.type.name)
    let timeout = try Self.timeout(request)
    let typeName = Self.typeName(request)
    guard typeName?.isEmpty == false else {
      throw AgentRuntimeError(
        code: .invalidArgument,
        message: "the message type name is missing: pass ?type=NAME or 'Content-Type: application/json; type=NAME'")
    }
    if Self.acceptsEventStream(request) {
      try Self.checkContentLength(request, limit: gateway.maxMessageSize)
      return streamingInvoke(request, target: target, typeName: typeName, timeout: timeout)
    }
    var request = request
    let payload = try GatewayJSON.payload(json: try await Self.collectBody(&request, limit: gateway.maxMessageSize), typeName: typeName)
    // A client that goes away ends the call (and cancels the agent's handler) at once, not at its
    // deadline.
    let call = try gateway.call(payload, to: target, timeout: timeout)
    let answer = try await connections.whileOpen(
      context.channel, onGone: { call.end(AgentRuntimeError(code: .cancelled, message: "the client closed the connection")) }
    ) { try await call.answer() }
    guard let answer else {
      return Response(status: .noContent)
    }
    if GatewayJSON.mediaType(answer.contentType) == ContentType.json {
      return Response(
        status: .ok,
        headers: [.contentType: ContentType.json, Self.messageTypeHeader: answer.typeName],
        body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer.data)))
    }
    return Self.json(.ok, GatewayJSON.encode(GatewayJSON.envelope(answer)), headers: [Self.messageTypeHeader: answer.typeName])
  }

  private func publish(_ request: Request, _ context: GatewayRequestContext, source: String? = nil) async throws -> Response {
    let topicType = try Self.parameter("type", context)
    let topicSource = try source ?? Self.parameter("source", context)
    if TopicId.isValidType(topicType) { try gateway.authorize(context.identity, .publish, topicType) }
    var request = request
    let body = try await Self.collectBody(&request, limit: gateway.maxMessageSize)
    let id: String
    if GatewayJSON.mediaType(request.headers[.contentType]) == "application/cloudevents+json" {
      // The path names the topic; the event's own type and source, if any, are replaced.
      let topic = try TopicId(type: topicType, source: topicSource)
      let event = try GatewayJSON.cloudEvent(
        json: body, topic: topic, typeName: request.uri.queryParameters["type"].map(String.init))
      id = try gateway.publish(event)
    } else {
      let topic = try TopicId(type: topicType, source: topicSource)
      id = try gateway.publish(try GatewayJSON.payload(json: body, typeName: Self.typeName(request)), to: topic)
    }
    return Self.json(.accepted, GatewayJSON.encode(["id": id]))
  }

  // MARK: Helpers

  /// Runs a route, turning its errors into JSON error responses.
  static func answering(_ route: () async throws -> Response) async -> Response {
    do {
      return try await route()
    } catch {
      let runtimeError = runtimeError(error)
      var headers: HTTPFields = [:]
      if runtimeError.code == .unauthenticated { headers[.wwwAuthenticate] = "Bearer" }
      return json(status(runtimeError.code), GatewayJSON.error(runtimeError), headers: headers)
    }
  }

  static func runtimeError(_ error: any Error) -> AgentRuntimeError {
    if let error = error as? AgentRuntimeError { return error }
    if error is NIOTooManyBytesError {
      return AgentRuntimeError(code: .resourceExhausted, message: "the body is over the host's limit (--max-message-size)")
    }
    return AgentRuntimeError(code: .internalError, message: "\(error)")
  }

  static func errorBody(_ error: any Error) -> Data {
    let runtimeError = runtimeError(error)
    var object: [String: Any] = ["code": RpcErrorCode.wireName(runtimeError.code, gateway: true), "message": runtimeError.message]
    object["status"] = Int(status(runtimeError.code).code)
    return GatewayJSON.encode(object)
  }

  /// The HTTP status for an error code.
  static func status(_ code: AgentRuntimeError.Code) -> HTTPResponse.Status {
    switch code {
    case .unknownAgentType, .notFound: return .notFound
    case .deadlineExceeded: return .gatewayTimeout
    // The agent refused or failed: 502, with its code in the body.
    case .handlerFailed, .unhandledMessage, .serializationFailed: return .badGateway
    case .invalidArgument: return .badRequest
    case .unauthenticated: return .unauthorized
    case .permissionDenied: return .forbidden
    case .resourceExhausted: return .contentTooLarge
    case .unavailable: return .serviceUnavailable
    case .alreadyExists: return .conflict
    case .cancelled: return .requestTimeout
    default: return .internalServerError
    }
  }

  static func json(_ status: HTTPResponse.Status, _ body: Data, headers extra: HTTPFields = [:]) -> Response {
    var headers: HTTPFields = [.contentType: ContentType.json]
    headers.append(contentsOf: extra)
    return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
  }

  /// A path parameter, percent-decoded.
  static func parameter(_ name: String, _ context: GatewayRequestContext) throws -> String {
    // Most names have no escapes: Foundation's decoding is then skipped.
    guard let raw = context.parameters.get(name),
      let value = raw.utf8.contains(UInt8(ascii: "%")) ? raw.removingPercentEncoding : String(raw)
    else {
      throw AgentRuntimeError(code: .invalidArgument, message: "the path parameter '\(name)' is missing or badly encoded")
    }
    return value
  }

  /// `?timeout=SECONDS`, a positive number.
  static func timeout(_ request: Request) throws -> Duration? {
    guard let text = request.uri.queryParameters["timeout"] else { return nil }
    guard let seconds = Double(text), seconds > 0, seconds.isFinite else {
      throw AgentRuntimeError(code: .invalidArgument, message: "timeout '\(text)' is not a positive number of seconds")
    }
    return .seconds(clamping: seconds)
  }

  /// The message type name: `?type=NAME`, else the `Content-Type` header's `type=` parameter.
  static func typeName(_ request: Request) -> String? {
    request.uri.queryParameters["type"].map(String.init) ?? GatewayJSON.typeParameter(ofContentType: request.headers[.contentType])
  }

  static func acceptsEventStream(_ request: Request) -> Bool {
    request.headers[values: .accept].contains { $0.lowercased().contains("text/event-stream") }
  }

  static func collectBody(_ request: inout Request, limit: Int) async throws -> Data {
    try checkContentLength(request, limit: limit)
    return Data(try await request.collectBody(upTo: limit).readableBytesView)
  }

  static func checkContentLength(_ request: Request, limit: Int) throws {
    if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
      throw AgentRuntimeError(
        code: .resourceExhausted, message: "the body is \(length) bytes, over the host's limit of \(limit) bytes (--max-message-size)")
    }
  }
}
