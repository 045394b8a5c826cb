import AgentCore
import AgentTestSupport
import AgentWire
import AsyncHTTPClient
import Foundation
@testable import GrpcHost
import GrpcWorker
import Logging
import NIOCore
import NIOHTTP1

/// A host with an HTTP listener and one worker serving the test agents:
/// `echo` (subscribed to topic type `chat`), `thrower`, `silent`, `streamer`.
struct GatewayFixture: Sendable {
  let host: AgentHost
  let worker: GrpcWorkerRuntime
  let http: HostAddress
  let grpc: HostAddress
  /// What the echo agents received by publish; what the streamer logged.
  let echoLog: Recorder<String>
  let streamLog: Recorder<String>

  var base: String { "http://\(http)" }
}

func withGateway<R: Sendable>(
  authToken: String? = nil,
  credentials: Credentials? = nil,
  rpcTimeout: Duration = .seconds(20),
  maxMessageSize: Int = 4 * 1024 * 1024,
  tapReaderBuffer: Int = 4096,
  keepAlive: Duration = .seconds(15),
  _ body: @Sendable (GatewayFixture) async throws -> R
) async throws -> R {
  var configuration = AgentHost.Configuration(
    address: HostAddress(host: "127.0.0.1", port: 0), rpcTimeout: rpcTimeout, maxMessageSize: maxMessageSize,
    authToken: authToken)
  configuration.httpAddress = HostAddress(host: "127.0.0.1", port: 0)
  configuration.credentials = credentials
  configuration.tapReaderBuffer = tapReaderBuffer
  configuration.sseKeepAliveInterval = keepAlive
  return try await withAgentHost(configuration: configuration, logger: quietLogger) { host in
    let grpc = try await host.listeningAddress()
    let http = try await host.httpAddress()
    var workerConfiguration = GrpcWorkerRuntime.Configuration(host: grpc, shutdownGracePeriod: .seconds(1))
    workerConfiguration.authToken = authToken
    return try await withGrpcWorker(
      configuration: workerConfiguration, serializers: testSerializers, logger: quietLogger
    ) { worker in
      let echoLog = Recorder<String>()
      let streamLog = Recorder<String>()
      try await worker.register(AgentType("echo"), subscriptions: [.type("chat")]) { id, _ in EchoAgent(id: id, log: echoLog) }
      try await worker.register(AgentType("thrower")) { id, _ in ThrowingAgent(id: id) }
      try await worker.register(AgentType("silent")) { id, _ in SilentAgent(id: id, started: Recorder()) }
      try await worker.register(AgentType("streamer")) { id, _ in StreamingAgent(id: id, log: streamLog) }
      return try await body(
        GatewayFixture(host: host, worker: worker, http: http, grpc: grpc, echoLog: echoLog, streamLog: streamLog))
    }
  }
}

/// One HTTP exchange's result.
struct HTTPResult: Sendable {
  var status: Int
  var headers: [String: String]
  var body: String

  /// The body as a JSON object.
  var json: [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
  }
}

/// Sends a request with a 10 s deadline and reads the whole answer.
func http(
  _ method: HTTPMethod, _ url: String, body: String? = nil, headers: [(String, String)] = [],
  contentType: String? = "application/json"
) async throws -> HTTPResult {
  var request = HTTPClientRequest(url: url)
  request.method = method
  if let contentType, body != nil { request.headers.add(name: "Content-Type", value: contentType) }
  for (name, value) in headers { request.headers.add(name: name, value: value) }
  if let body { request.body = .bytes(ByteBuffer(string: body)) }
  let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
  let buffer = try await response.body.collect(upTo: 16 << 20)
  var fields: [String: String] = [:]
  for header in response.headers { fields[header.name.lowercased()] = header.value }
  return HTTPResult(status: Int(response.status.code), headers: fields, body: String(buffer: buffer))
}

/// One Server-Sent Event.
struct SSEEvent: Sendable, Equatable {
  var event: String?
  var id: String?
  var data: String

  var json: [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(data.utf8))) as? [String: Any] ?? [:]
  }
}

/// Reads SSE events from a streaming response; comments (keepalives) are collected apart.
struct SSEReader {
  private var iterator: HTTPClientResponse.Body.AsyncIterator
  private var buffer = ""
  private(set) var comments: [String] = []

  init(_ response: HTTPClientResponse) {
    iterator = response.body.makeAsyncIterator()
  }

  /// The next event, or nil when the stream ends.
  mutating func next() async throws -> SSEEvent? {
    while true {
      if let range = buffer.range(of: "\n\n") {
        let block = String(buffer[..<range.lowerBound])
        buffer.removeSubrange(..<range.upperBound)
        var event = SSEEvent(event: nil, id: nil, data: "")
        var isEvent = false
        for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
          if line.hasPrefix(":") {
            comments.append(String(line))
          } else if line.hasPrefix("event: ") {
            event.event = String(line.dropFirst(7))
            isEvent = true
          } else if line.hasPrefix("id: ") {
            event.id = String(line.dropFirst(4))
          } else if line.hasPrefix("data: ") {
            event.data += (event.data.isEmpty ? "" : "\n") + line.dropFirst(6)
            isEvent = true
          }
        }
        if isEvent { return event }
        continue
      }
      guard let chunk = try await iterator.next() else { return nil }
      buffer += String(buffer: chunk)
    }
  }

  /// The next `count` events, failing when the stream ends first.
  mutating func next(_ count: Int) async throws -> [SSEEvent] {
    var events: [SSEEvent] = []
    while events.count < count {
      guard let event = try await next() else { break }
      events.append(event)
    }
    return events
  }
}

/// Opens a streaming request (SSE) with a deadline for the whole exchange.
func openStream(
  _ method: HTTPMethod, _ url: String, body: String? = nil, headers: [(String, String)] = [], deadline: TimeAmount = .seconds(20)
) async throws -> HTTPClientResponse {
  var request = HTTPClientRequest(url: url)
  request.method = method
  request.headers.add(name: "Accept", value: "text/event-stream")
  if let body {
    request.headers.add(name: "Content-Type", value: "application/json")
    request.body = .bytes(ByteBuffer(string: body))
  }
  for (name, value) in headers { request.headers.add(name: name, value: value) }
  return try await HTTPClient.shared.execute(request, deadline: .now() + deadline)
}
