import AgentCore
import AgentWire
import AsyncHTTPClient
import Foundation
import GRPCCore
@testable import GrpcHost
import InMemoryTracing
import NIOCore
import NIOHTTP1
import SwiftProtobuf
import Testing
import Tracing

/// The host's own spans, seen on the wire: raw workers send the trace context a tracer would
/// (the in-memory tracer's keys here; `traceparent` with OpenTelemetry) and check what the host
/// forwards, which must point at the host's span.
@Suite("Host: its spans, and the trace context it forwards", .timeLimit(.minutes(1)))
struct HostTracingTests {
  static let traceId = "trace-1"
  static let callerSpan = "caller-span"
  static let carrier = [InMemoryTracer.traceIDKey: traceId, InMemoryTracer.spanIDKey: callerSpan]

  /// Waits (bounded) until `tracer` has finished a span named `name`.
  func span(_ tracer: InMemoryTracer, _ name: String) async throws -> FinishedInMemorySpan {
    let deadline = ContinuousClock.now + .seconds(10)
    while true {
      if let span = tracer.finishedSpans.first(where: { $0.operationName == name }) { return span }
      guard ContinuousClock.now < deadline else {
        Issue.record("no span '\(name)' in \(tracer.finishedSpans.map(\.operationName))")
        throw AgentRuntimeError(code: .deadlineExceeded, message: "spans")
      }
      try await Task.sleep(for: .milliseconds(10))
    }
  }

  /// Sends a call with `carrier` in its metadata from one raw worker to another through the host
  /// at `address`, answers it, and returns the request as the callee got it.
  func forwardedCall(through address: HostAddress) async throws -> Agents_RpcRequest {
    try await withRawWorker(address) { callee in
      try await callee.register("svc")
      return try await withRawWorker(address) { caller in
        var request = Agents_Message.request(id: "1", target: try AgentId(type: "svc", key: "k"))
        request.request.metadata = Self.carrier
        caller.send(request)
        let forwarded = try #require(try await callee.next().requestValue)
        callee.send(.response(to: forwarded.requestID, text: "ok"))
        #expect(try await caller.next().response.requestID == "1")
        return forwarded
      }
    }
  }

  @Test("an RPC: the route span continues the caller's context, and the callee gets the route span's")
  func routedRPC() async throws {
    let tracer = InMemoryTracer()
    let forwarded = try await withTracer(tracer) {
      try await withTestHost { _, address in try await forwardedCall(through: address) }
    }
    let route = try await span(tracer, "route svc")
    #expect(route.traceID == Self.traceId && route.parentSpanID == Self.callerSpan)
    #expect(forwarded.metadata[InMemoryTracer.traceIDKey] == Self.traceId)
    #expect(forwarded.metadata[InMemoryTracer.spanIDKey] == route.spanID)
    #expect(route.kind == .server)
    #expect(route.attributes["agents.recipient"]?.toSpanAttribute() == .string("svc/k"))
    #expect(route.attributes["agents.outcome"]?.toSpanAttribute() == .string("ok"))
  }

  @Test("an RPC the callee never answers: the route span ends at the deadline, with the error")
  func deadline() async throws {
    let tracer = InMemoryTracer()
    try await withTracer(tracer) {
      try await withTestHost(rpcTimeout: .milliseconds(200)) { _, address in
        try await withRawWorker(address) { callee in
          try await callee.register("svc")
          try await withRawWorker(address) { caller in
            caller.send(.request(id: "1", target: try AgentId(type: "svc", key: "k")))
            _ = try await callee.next()
            #expect(try await caller.next().response.error.contains("timed out"))
          }
        }
      }
    }
    let route = try await span(tracer, "route svc")
    #expect(route.parentSpanID == nil)  // no context from the caller: a new trace
    #expect(route.status?.code == .error)
    #expect(route.attributes["agents.outcome"]?.toSpanAttribute() == .string(AgentRuntimeError.Code.deadlineExceeded.description))
  }

  @Test("a publish: the deliver span continues the publisher's context and every copy carries the deliver span's", arguments: [1.0, 0.0])
  func publish(ratio: Double) async throws {
    let tracer = InMemoryTracer()
    try await withTracer(tracer) {
      try await withTestHost(configure: { $0.tracePublishRatio = ratio }) { _, address in
        try await withRawWorker(address) { subscriber in
          try await subscriber.register("listener")
          _ = try await subscriber.subscribe(.type("news"), agentType: "listener")
          try await withRawWorker(address) { publisher in
            var event = try Io_Cloudevents_V1_CloudEvent(PublishedEvent(
              topic: try TopicId(type: "news", source: "s"), sender: nil, messageId: "e1",
              payload: SerializedPayload(typeName: "Text", contentType: ContentType.json, data: Data(#"{"text":"x"}"#.utf8))))
            for (key, value) in Self.carrier { event.attributes[key] = .with { $0.ceString = value } }
            publisher.send(.with { $0.cloudEvent = event })
            guard case .cloudEvent(let copy)? = try await subscriber.next().message else {
              Issue.record("expected the event")
              return
            }
            #expect(copy.attributes[InMemoryTracer.traceIDKey]?.ceString == Self.traceId)
            if ratio == 0 {
              #expect(copy.attributes[InMemoryTracer.spanIDKey]?.ceString == Self.callerSpan)  // as published
            } else {
              #expect(copy.attributes[InMemoryTracer.spanIDKey]?.ceString != Self.callerSpan)
            }
          }
        }
      }
    }
    if ratio == 0 {
      #expect(!tracer.finishedSpans.contains { $0.operationName.hasPrefix("deliver") })
    } else {
      let deliver = try await span(tracer, "deliver news")
      #expect(deliver.traceID == Self.traceId && deliver.parentSpanID == Self.callerSpan)
      #expect(deliver.attributes["agents.deliveries"]?.toSpanAttribute() == .int64(1))
      #expect(deliver.attributes["messaging.message.id"]?.toSpanAttribute() == .string("e1"))
    }
  }

  @Test("without a tracer the host forwards the caller's context untouched")
  func untraced() async throws {
    let forwarded = try await withTestHost { _, address in try await forwardedCall(through: address) }
    #expect(forwarded.metadata == Self.carrier)
  }

  @Test("the gateway: an HTTP call and a gRPC Invoke get a server span under the caller's context, the route span under it")
  func gatewaySpans() async throws {
    let tracer = InMemoryTracer()
    try await withTracer(tracer) {
      try await withGateway { fixture in
        // AsyncHTTPClient traces too: its client span's context goes in the request's headers.
        var configuration = HTTPClient.Configuration()
        configuration.tracing.tracer = tracer
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        var request = HTTPClientRequest(url: "\(fixture.base)/v1/agents/echo/k?type=ChatMessage")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: #"{"text":"hi"}"#))
        let status = try await client.execute(request, timeout: .seconds(10)).status
        try await client.shutdown()
        #expect(status == .ok)
        // A streamed call: its body runs after the route returns, still in the request's span.
        var reader = SSEReader(try await openStream(.POST, "\(fixture.base)/v1/agents/streamer/s?type=ChatMessage", body: #"{"text":"2"}"#))
        #expect(try await reader.next(3).map(\.event) == ["chunk", "chunk", "result"])
        try await withGatewayClient(fixture) { gateway in
          _ = try await gateway.invoke(
            .with { $0.agentType = "echo"; $0.agentKey = "g"; $0.message = jsonPayload("ChatMessage", #"{"text":"hi"}"#) },
            metadata: [InMemoryTracer.traceIDKey: .string("trace-2"), InMemoryTracer.spanIDKey: .string("grpc-caller")])
        }
      }
    }
    let spans = tracer.finishedSpans
    let routes = spans.filter { $0.operationName == "route echo" }
    #expect(routes.count == 2)
    let client = try #require(spans.first { $0.kind == .client && $0.operationName == "POST" })
    let server = try #require(spans.first { $0.operationName == "/v1/agents/{type}/{key}" })
    #expect(server.kind == .server && server.traceID == client.traceID && server.parentSpanID == client.spanID)
    #expect(server.attributes["http.response.status_code"]?.toSpanAttribute() == .int64(200))
    #expect(routes.first { $0.traceID == client.traceID }?.parentSpanID == server.spanID)
    let streamed = try #require(spans.first { $0.operationName == "route streamer" })
    #expect(streamed.events.filter { $0.name == "chunk" }.count == 2)
    #expect(spans.contains { $0.operationName == "/v1/agents/{type}/{key}" && $0.spanID == streamed.parentSpanID })
    let invoke = try #require(spans.first { $0.operationName == "agents.gateway.v1.Gateway/Invoke" })
    #expect(invoke.traceID == "trace-2" && invoke.parentSpanID == "grpc-caller")
    #expect(routes.first { $0.traceID == "trace-2" }?.parentSpanID == invoke.spanID)
    let handles = spans.filter { $0.operationName == "handle echo" }
    #expect(Set(handles.compactMap(\.parentSpanID)) == Set(routes.map(\.spanID)))
  }
}
