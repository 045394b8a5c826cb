import AgentCore
import AgentTestSupport
import AgentWire
import AsyncHTTPClient
import NIOHTTP1
import Foundation
@testable import GrpcHost
import GRPCCore
import SwiftProtobuf
import GrpcWorker
import Testing

@Suite("Gateway: HTTP/JSON routes", .timeLimit(.minutes(1)))
struct GatewayHTTPTests {
  @Test("POST /v1/agents/{type}/{key} returns the agent's JSON with its type name in a header")
  func invoke() async throws {
    try await withGateway { fixture in
      let result = try await http(.POST, "\(fixture.base)/v1/agents/echo/e1?type=ChatMessage", body: #"{"text":"hi"}"#)
      #expect(result.status == 200)
      #expect(result.headers["agent-message-type"] == "ChatReply")
      #expect(result.json["text"] as? String == "e1 heard hi from nobody")
      // The type name may come from the Content-Type parameter instead.
      let viaHeader = try await http(
        .POST, "\(fixture.base)/v1/agents/echo/e%20two", body: #"{"text":"yo"}"#,
        contentType: "application/json; type=ChatMessage")
      #expect(viaHeader.status == 200)
      #expect(viaHeader.json["text"] as? String == "e two heard yo from nobody")
    }
  }

  @Test("errors: 404 unknown type, 502 handler failure, 400 bad JSON / missing type / invalid id / bad timeout, 504 deadline")
  func errors() async throws {
    try await withGateway { fixture in
      let base = fixture.base
      let unknown = try await http(.POST, "\(base)/v1/agents/nobody/k?type=ChatMessage", body: #"{"text":"x"}"#)
      #expect(unknown.status == 404)
      #expect(unknown.json["code"] as? String == "unknown-agent-type")
      #expect((unknown.json["message"] as? String)?.contains("nobody") == true)

      let failed = try await http(.POST, "\(base)/v1/agents/thrower/k?type=ChatMessage", body: #"{"text":"x"}"#)
      #expect(failed.status == 502)
      #expect(failed.json["code"] as? String == "handler-failed")
      #expect((failed.json["message"] as? String)?.contains("boom") == true)

      let badJSON = try await http(.POST, "\(base)/v1/agents/echo/k?type=ChatMessage", body: #"{"text":"#)
      #expect(badJSON.status == 400)
      #expect(badJSON.json["code"] as? String == "invalid-argument")

      let noType = try await http(.POST, "\(base)/v1/agents/echo/k", body: #"{"text":"x"}"#)
      #expect(noType.status == 400)
      #expect((noType.json["message"] as? String)?.contains("type name is missing") == true)

      let badId = try await http(.POST, "\(base)/v1/agents/bad%20type/k?type=ChatMessage", body: #"{"text":"x"}"#)
      #expect(badId.status == 400)

      let badTimeout = try await http(.POST, "\(base)/v1/agents/echo/k?type=ChatMessage&timeout=-1", body: #"{"text":"x"}"#)
      #expect(badTimeout.status == 400)
      // A huge timeout is capped (by the host's RPC timeout), not a crash.
      let hugeTimeout = try await http(.POST, "\(base)/v1/agents/echo/k?type=ChatMessage&timeout=1e300", body: #"{"text":"x"}"#)
      #expect(hugeTimeout.status == 200)

      let wrongMethod = try await http(.PUT, "\(base)/v1/agents/echo/k?type=ChatMessage", body: #"{"text":"x"}"#)
      #expect(wrongMethod.status == 405)
      #expect(wrongMethod.headers["allow"] == "POST")

      let slow = try await http(.POST, "\(base)/v1/agents/silent/k?type=ChatMessage&timeout=0.3", body: #"{"text":"x"}"#)
      #expect(slow.status == 504)
      #expect(slow.json["code"] as? String == "deadline-exceeded")

      // The host carries on, and the abandoned call left nothing pending.
      let ok = try await http(.POST, "\(base)/v1/agents/echo/k?type=ChatMessage", body: #"{"text":"still"}"#)
      #expect(ok.status == 200)
      #expect(await fixture.host.router.waitUntil(timeout: .seconds(5)) { $0.pendingRPCs == 0 })
    }
  }

  @Test("a call without ?timeout ends at the host's RPC timeout with 504, answered by the router; HTTP and gRPC alike")
  func hostTimeout() async throws {
    try await withGateway(rpcTimeout: .milliseconds(400)) { fixture in
      let started = ContinuousClock.now
      let slow = try await http(.POST, "\(fixture.base)/v1/agents/silent/k?type=ChatMessage", body: #"{"text":"x"}"#)
      #expect(slow.status == 504)
      #expect(slow.json["code"] as? String == "deadline-exceeded")
      #expect((slow.json["message"] as? String)?.contains("timed out after 0.4 s") == true)
      #expect(ContinuousClock.now - started < .seconds(5))
      try await withGatewayClient(fixture) { gateway in
        let timeout = await #expect(throws: RPCError.self) {
          _ = try await gateway.invoke(.with {
            $0.agentType = "silent"
            $0.agentKey = "k"
            $0.message = jsonPayload("ChatMessage", #"{"text":"x"}"#)
          })
        }
        #expect(timeout?.code == .deadlineExceeded)
      }
      #expect(await fixture.host.router.waitUntil(timeout: .seconds(5)) { $0.pendingRPCs == 0 })
      let ok = try await http(.POST, "\(fixture.base)/v1/agents/echo/k?type=ChatMessage", body: #"{"text":"still"}"#)
      #expect(ok.status == 200)
    }
  }

  @Test("a body over --max-message-size gets 413, for calls and publishes")
  func oversized() async throws {
    try await withGateway(maxMessageSize: 1024) { fixture in
      let big = "{\"text\":\"" + String(repeating: "x", count: 2000) + "\"}"
      let call = try await http(.POST, "\(fixture.base)/v1/agents/echo/k?type=ChatMessage", body: big)
      #expect(call.status == 413)
      #expect(call.json["code"] as? String == "resource-exhausted")
      let publish = try await http(.POST, "\(fixture.base)/v1/topics/chat/s?type=ChatMessage", body: big)
      #expect(publish.status == 413)
      let ok = try await http(.POST, "\(fixture.base)/v1/agents/echo/k?type=ChatMessage", body: #"{"text":"small"}"#)
      #expect(ok.status == 200)
    }
  }

  @Test("with a token: 401 without it or with a wrong one; /healthz and /metrics stay open")
  func auth() async throws {
    try await withGateway(authToken: "s3cret") { fixture in
      let base = fixture.base
      let missing = try await http(.GET, "\(base)/v1/agent-types")
      #expect(missing.status == 401)
      #expect(missing.headers["www-authenticate"] == "Bearer")
      #expect(missing.json["code"] as? String == "unauthenticated")
      let wrong = try await http(.POST, "\(base)/v1/agents/echo/k?type=ChatMessage", body: #"{"text":"x"}"#, headers: [("Authorization", "Bearer nope")])
      #expect(wrong.status == 401)
      let tail = try await http(.GET, "\(base)/v1/topics/chat/events", headers: [("Authorization", "Bearer nope")])
      #expect(tail.status == 401)
      let right = try await http(.POST, "\(base)/v1/agents/echo/k?type=ChatMessage", body: #"{"text":"x"}"#, headers: [("Authorization", "Bearer s3cret")])
      #expect(right.status == 200)
      #expect(try await http(.GET, "\(base)/healthz").status == 200)
      #expect(try await http(.GET, "\(base)/metrics").status == 200)
    }
  }

  @Test("GET /v1/agent-types lists each type with its workers and subscriptions")
  func agentTypes() async throws {
    try await withGateway { fixture in
      let result = try await http(.GET, "\(fixture.base)/v1/agent-types")
      #expect(result.status == 200)
      let types = result.json["agentTypes"] as? [[String: Any]] ?? []
      #expect(types.map { $0["type"] as? String } == ["echo", "silent", "streamer", "thrower"])
      let echo = types.first { $0["type"] as? String == "echo" }
      #expect(echo?["workers"] as? Int == 1)
      let topics = (echo?["subscriptions"] as? [[String: Any]] ?? []).compactMap { $0["topicType"] as? String }
      #expect(topics == ["chat"])
    }
  }

  @Test("POST /v1/topics publishes (JSON or a structured CloudEvent): 202 with the id, and subscribers get it")
  func publish() async throws {
    try await withGateway { fixture in
      let result = try await http(.POST, "\(fixture.base)/v1/topics/chat/room1?type=ChatMessage", body: #"{"text":"hello"}"#)
      #expect(result.status == 202)
      #expect((result.json["id"] as? String)?.isEmpty == false)
      let cloudEvent = #"{"specversion":"1.0","id":"ce-1","type":"chat","source":"room2","dataschema":"ChatMessage","datacontenttype":"application/json","data":{"text":"structured"}}"#
      let structured = try await http(
        .POST, "\(fixture.base)/v1/topics/chat/room2", body: cloudEvent, contentType: "application/cloudevents+json")
      #expect(structured.status == 202)
      #expect(structured.json["id"] as? String == "ce-1")
      let received = try await fixture.echoLog.waitFor(count: 2)
      #expect(Set(received) == ["echo/room1 got hello on chat/room1 from nobody", "echo/room2 got structured on chat/room2 from nobody"])

      let badTopic = try await http(.POST, "\(fixture.base)/v1/topics/bad%20topic/s?type=ChatMessage", body: #"{"text":"x"}"#)
      #expect(badTopic.status == 400)
      // The path names the topic: an event naming another is published to the path's.
      let renamed = try await http(
        .POST, "\(fixture.base)/v1/topics/chat/room3", body: cloudEvent, contentType: "application/cloudevents+json")
      #expect(renamed.status == 202)
      #expect(try await fixture.echoLog.waitFor(count: 3).last == "echo/room3 got structured on chat/room3 from nobody")
      let noData = try await http(
        .POST, "\(fixture.base)/v1/topics/chat/room3", body: #"{"dataschema":"ChatMessage"}"#, contentType: "application/cloudevents+json")
      #expect(noData.status == 400)
    }
  }

  @Test("/healthz, /metrics and /openapi.json (the committed docs/openapi.json)")
  func operations() async throws {
    try await withGateway { fixture in
      let health = try await http(.GET, "\(fixture.base)/healthz")
      #expect(health.status == 200)
      _ = try await http(.POST, "\(fixture.base)/v1/agents/echo/k?type=ChatMessage", body: #"{"text":"x"}"#)
      let metrics = try await http(.GET, "\(fixture.base)/metrics")
      #expect(metrics.body.contains("agents_host_messages_routed_total{kind=\"request\"} 1"))
      #expect(metrics.body.contains("agents_host_connected_workers 1"))
      let openapi = try await http(.GET, "\(fixture.base)/openapi.json")
      let committed = try String(
        contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/openapi.json"),
        encoding: .utf8)
      #expect(openapi.body == committed, "run scripts/generate-openapi.sh")
    }
  }

  @Test("host shutdown ends an open SSE stream with a final event: error (unavailable)")
  func shutdownEndsStreams() async throws {
    let host = hostWithHTTP()
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask { try await host.run() }
      let address = try await host.httpAddress()
      #expect(try await http(.GET, "http://\(address)/healthz").status == 200)
      // Keep the listener busy with an open stream, so it is still up while stopping.
      let stream = try await openStream(.GET, "http://\(address)/v1/topics/x/events")
      host.beginGracefulShutdown()
      var reader = SSEReader(stream)
      let final = try await reader.next()
      #expect(final?.event == "error")
      #expect(final?.json["code"] as? String == "unavailable")
      try await group.waitForAll()
    }
  }

  @Test("a call still pending when the host shuts down is answered 503 unavailable")
  func shutdownAnswersPendingCalls() async throws {
    let host = hostWithHTTP()
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask { try await host.run() }
      let grpc = try await host.listeningAddress()
      let address = try await host.httpAddress()
      let workerConfiguration = GrpcWorkerRuntime.Configuration(host: grpc, shutdownGracePeriod: .seconds(1))
      try await withGrpcWorker(configuration: workerConfiguration, serializers: testSerializers, logger: quietLogger) { worker in
        let started = Recorder<String>()
        try await worker.register(AgentType("silent")) { id, _ in SilentAgent(id: id, started: started) }
        async let call = http(.POST, "http://\(address)/v1/agents/silent/k?type=ChatMessage", body: #"{"text":"x"}"#)
        _ = try await started.waitFor(count: 1)
        host.beginGracefulShutdown()
        let result = try await call
        #expect(result.status == 503)
        #expect(result.json["code"] as? String == "unavailable")
        #expect((result.json["message"] as? String)?.contains("shutting down") == true)
      }
      try await group.waitForAll()
    }
  }

  /// A host on free loopback ports with its HTTP listener, not yet running.
  func hostWithHTTP() -> AgentHost {
    var configuration = AgentHost.Configuration(address: HostAddress(host: "127.0.0.1", port: 0))
    configuration.httpAddress = HostAddress(host: "127.0.0.1", port: 0)
    return AgentHost(configuration: configuration, logger: quietLogger)
  }
}
