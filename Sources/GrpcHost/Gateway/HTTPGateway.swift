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
  let authToken: String?
  /// How often an idle SSE stream gets a keepalive comment.
  let keepAliveInterval: Duration
  let isServing: @Sendable () -> Bool
  let metrics: @Sendable () -> [UInt8]

  static let messageTypeHeader = HTTPField.Name("Agent-Message-Type")!
  static let lastEventIDHeader = HTTPField.Name("Last-Event-ID")!

  func makeRouter() -> Router<BasicRequestContext> {
    let router = Router()
    router.get("/healthz") { _, _ -> Response in
      isServing()
        ? Self.json(.ok, GatewayJSON.encode(["status": "serving"]))
        : Self.json(.serviceUnavailable, GatewayJSON.encode(["status": "not-serving"]))
    }
    router.get("/metrics") { _, _ -> Response in
      Response(
        status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
        body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics())))
    }
    router.get("/openapi.json") { _, _ -> Response in
      Self.json(.ok, Data(GatewayOpenAPI.document.utf8))
    }
    let v1 = router.group("v1").add(middleware: BearerTokenMiddleware(token: authToken))
    v1.get("agent-types") { _, _ -> Response in listAgentTypes() }
    v1.post("agents/{type}/{key}") { request, context -> Response in
      await Self.answering { try await invoke(request, context) }
    }
    v1.post("topics/{type}/{source}") { request, context -> Response in
      await Self.answering { try await publish(request, context) }
    }
    v1.post("topics/{type}/events") { request, context -> Response in
      await Self.answering { try await publish(request, context, source: "events") }
    }
    v1.get("topics/{type}/events") { request, context -> Response in
      await Self.answering { try tail(request, context) }
    }
    // Other methods on these paths: 405 with Allow, not the router's 404.
    for (path, allowed) in [
      ("/healthz", [HTTPRequest.Method.get]), ("/metrics", [.get]), ("/openapi.json", [.get]), ("/v1/agent-types", [.get]),
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
    let types: [[String: Any]] = gateway.agentTypes.map { entry in
      [
        "type": entry.type.name,
        "workers": entry.workers,
        "subscriptions": entry.subscriptions.map { subscription -> [String: Any] in
          var object: [String: Any] = ["id": subscription.id]
          switch subscription.filter {
          case .type(let type): object["topicType"] = type
          case .typePrefix(let prefix): object["topicTypePrefix"] = prefix
          }
          return object
        },
      ]
    }
    return Self.json(.ok, GatewayJSON.encode(["agentTypes": types]))
  }

  private func invoke(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
    let target = try AgentId(type: try Self.parameter("type", context), key: try Self.parameter("key", context))
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
    guard let answer = try await gateway.invoke(payload, to: target, timeout: timeout) else {
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

  /// `Accept: text/event-stream`: `event: chunk` per partial result, then one `event: result` or
  /// `event: error`. The body is read once the stream has started, so a body that is not JSON is
  /// reported as the stream's `event: error` (code `invalid-argument`). A client that disconnects
  /// cancels the call, and its handler.
  private func streamingInvoke(_ request: Request, target: AgentId, typeName: String?, timeout: Duration?) -> Response {
    let gateway = self.gateway
    var headers = Self.eventStreamHeaders
    headers[.connection] = "close"  // watching for the client's disconnect uses up the connection
    return Response(
      status: .ok, headers: headers,
      body: ResponseBody { writer in
        let (frames, sink) = AsyncStream.makeStream(of: ByteBuffer.self)
        do {
          try await request.body.consumeWithCancellationOnInboundClose { body in
            try await withThrowingTaskGroup(of: Void.self) { group in
              group.addTask {
                defer { sink.finish() }
                do {
                  let payload = try GatewayJSON.payload(
                    json: Data(try await body.collect(upTo: gateway.maxMessageSize).readableBytesView), typeName: typeName)
                  let answer = try await gateway.invoke(payload, to: target, timeout: timeout) { chunk in
                    sink.yield(SSE.frame(event: "chunk", id: chunk.topic.source, data: GatewayJSON.encode(GatewayJSON.envelope(chunk.payload))))
                  }
                  let result = answer.map { GatewayJSON.encode(GatewayJSON.envelope($0)) } ?? Data("null".utf8)
                  sink.yield(SSE.frame(event: "result", data: result))
                } catch is CancellationError {
                  // The client went away; nobody reads what would be written.
                } catch {
                  sink.yield(SSE.frame(event: "error", data: Self.errorBody(error)))
                }
              }
              for await frame in frames { try await writer.write(frame) }
              try await group.waitForAll()
            }
          }
        } catch is CancellationError {
          return  // the client disconnected: the call (and its handler) was cancelled
        }
        try await writer.finish(nil)
      })
  }

  private func publish(_ request: Request, _ context: BasicRequestContext, source: String? = nil) async throws -> Response {
    let topicType = try Self.parameter("type", context)
    let topicSource = try source ?? Self.parameter("source", context)
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

  /// A live SSE stream of the publishes matching the topic filter (see ``EventTap``).
  private func tail(_ request: Request, _ context: BasicRequestContext) throws -> Response {
    let topicType = try Self.parameter("type", context)
    let query = request.uri.queryParameters
    let isPrefix: Bool
    switch query["prefix"].map({ $0.lowercased() }) {
    case nil, "false", "0": isPrefix = false
    case "true", "1": isPrefix = true
    case let other?: throw AgentRuntimeError(code: .invalidArgument, message: "prefix '\(other)' is not true or false")
    }
    guard TopicId.isValidType(topicType) else {
      throw AgentRuntimeError(code: .invalidArgument, message: "'\(topicType)' is not a valid topic type\(isPrefix ? " prefix" : "")")
    }
    var after: UInt64?
    if let last = request.headers[Self.lastEventIDHeader], !last.isEmpty {  // empty means none (SSE)
      guard let sequence = UInt64(last) else {
        throw AgentRuntimeError(code: .invalidArgument, message: "Last-Event-ID '\(last)' is not a sequence number")
      }
      after = sequence
    }
    let reader = gateway.tap(
      TapFilter(topicType: topicType, isPrefix: isPrefix, source: query["source"].map(String.init)), after: after)
    let keepAliveInterval = self.keepAliveInterval
    let readerBuffer = gateway.router.tap.readerBuffer
    var headers = Self.eventStreamHeaders
    headers[.connection] = "close"
    return Response(
      status: .ok, headers: headers,
      body: ResponseBody { writer in
        defer { reader.close() }
        // The writer may wait on a reader that stopped reading; what it has not taken piles up here
        // to a bound, past which the reader is dropped (the bus never waits for it).
        let (frames, sink) = AsyncStream.makeStream(of: ByteBuffer.self, bufferingPolicy: .bufferingOldest(readerBuffer))
        let dropped = DroppedFlag()
        do {
          try await writer.write(ByteBuffer(string: ": tap open\n\n"))
          try await request.body.consumeWithCancellationOnInboundClose { _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
              group.addTask {
                defer { sink.finish() }
                for await tapped in reader.events {
                  let frame = Self.tapFrame(tapped)
                  if case .dropped = sink.yield(frame) {
                    dropped.set()
                    return
                  }
                }
                if reader.overflowed { dropped.set() }
              }
              group.addTask {
                while true {
                  try await Task.sleep(for: keepAliveInterval)
                  sink.yield(ByteBuffer(string: ": keepalive\n\n"))
                }
              }
              for await frame in frames { try await writer.write(frame) }
              group.cancelAll()
            }
          }
        } catch is CancellationError {
          return  // the client disconnected
        }
        let final = dropped.isSet
          ? AgentRuntimeError(code: .resourceExhausted, message: "the reader fell more than \(readerBuffer) events behind and was dropped; reconnect with Last-Event-ID to resume")
          : AgentRuntimeError(code: .unavailable, message: "the host is shutting down")
        try await writer.write(SSE.frame(event: "error", data: GatewayJSON.error(final)))
        try await writer.finish(nil)
      })
  }

  // MARK: Helpers

  private static func tapFrame(_ tapped: TappedEvent) -> ByteBuffer {
    let data: Data
    do {
      data = GatewayJSON.cloudEvent(try PublishedEvent(wire: try tapped.event.decoded()), sequence: tapped.sequence)
    } catch {
      data = GatewayJSON.encode([
        "specversion": "1.0", "id": tapped.event.id, "source": tapped.event.source, "type": tapped.event.type,
        "sequence": String(tapped.sequence), "error": "\(error)",
      ])
    }
    return SSE.frame(event: tapped.event.type, id: String(tapped.sequence), data: data)
  }

  static let eventStreamHeaders: HTTPFields = [
    .contentType: "text/event-stream", .cacheControl: "no-cache", HTTPField.Name("X-Accel-Buffering")!: "no",
  ]

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
  static func parameter(_ name: String, _ context: BasicRequestContext) throws -> String {
    guard let raw = context.parameters.get(name), let value = raw.removingPercentEncoding else {
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

/// Server-Sent Events framing.
enum SSE {
  static func frame(event: String, id: String? = nil, data: Data) -> ByteBuffer {
    var text = ""
    if let id { text += "id: \(id)\n" }
    text += "event: \(event)\n"
    // JSON has no raw newlines, but be safe: one data line per line.
    for line in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false) {
      text += "data: \(line)\n"
    }
    text += "\n"
    return ByteBuffer(string: text)
  }
}

/// Set once, read after: whether a tap reader was dropped for falling behind.
final class DroppedFlag: Sendable {
  private let value = Atomic<Bool>(false)
  func set() { value.store(true, ordering: .releasing) }
  var isSet: Bool { value.load(ordering: .acquiring) }
}

/// `Authorization: Bearer TOKEN` on every `/v1` route when the host has a token.
struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
  let token: String?

  func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
    guard let token else { return try await next(request, context) }
    guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
      constantTimeEqual(Array(header.utf8.dropFirst(7)), Array(token.utf8))
    else {
      let message = request.headers[.authorization] == nil
        ? "this host requires 'Authorization: Bearer <token>'" : "the bearer token is not valid"
      return HTTPGateway.json(
        .unauthorized, GatewayJSON.error(AgentRuntimeError(code: .unauthenticated, message: message)),
        headers: [.wwwAuthenticate: "Bearer"])
    }
    return try await next(request, context)
  }
}

/// Compares without an early exit, so timing does not reveal how much of a token matched.
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
  guard a.count == b.count else { return false }
  var difference: UInt8 = 0
  for (x, y) in zip(a, b) { difference |= x ^ y }
  return difference == 0
}
