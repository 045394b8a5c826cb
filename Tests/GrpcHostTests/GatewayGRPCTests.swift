import AgentCore
import AgentTestSupport
import AgentWire
import GRPCCore
import GRPCNIOTransportHTTP2
@testable import GrpcHost
import SwiftProtobuf
import Testing

/// Runs `body` with a client of the host's `agents.gateway.v1.Gateway` service.
func withGatewayClient<R: Sendable>(
  _ fixture: GatewayFixture,
  _ body: @Sendable (Agents_Gateway_V1_Gateway.Client<HTTP2ClientTransport.Posix>) async throws -> R
) async throws -> R {
  let transport = try HTTP2ClientTransport.Posix(
    target: .ipv4(address: fixture.grpc.host, port: fixture.grpc.port), transportSecurity: .plaintext)
  return try await withGRPCClient(transport: transport) { client in
    try await body(Agents_Gateway_V1_Gateway.Client(wrapping: client))
  }
}

func jsonPayload(_ type: String, _ json: String) -> Agents_Gateway_V1_Payload {
  .with {
    $0.type = type
    $0.json = json
  }
}

@Suite("Gateway: gRPC service agents.gateway.v1.Gateway", .timeLimit(.minutes(1)))
struct GatewayGRPCTests {
  @Test("Invoke returns the answer; errors are gRPC statuses with the agent's text")
  func invoke() async throws {
    try await withGateway { fixture in
      try await withGatewayClient(fixture) { gateway in
        let answer = try await gateway.invoke(.with {
          $0.agentType = "echo"
          $0.agentKey = "g1"
          $0.message = jsonPayload("ChatMessage", #"{"text":"hi"}"#)
        })
        #expect(answer.result.type == "ChatReply")
        #expect(answer.result.json.contains("g1 heard hi"))

        for (type, code, text) in [
          ("nobody", RPCError.Code.notFound, "no worker serves agent type 'nobody'"),
          ("thrower", .unknown, "boom"), ("bad type", .invalidArgument, "bad type"),
        ] {
          let error = await #expect(throws: RPCError.self) {
            _ = try await gateway.invoke(.with {
              $0.agentType = type
              $0.agentKey = "k"
              $0.message = jsonPayload("ChatMessage", #"{"text":"x"}"#)
            })
          }
          #expect(error?.code == code, "\(type)")
          #expect(error?.message.contains(text) == true, "\(type): \(error?.message ?? "")")
        }
        let timeout = await #expect(throws: RPCError.self) {
          _ = try await gateway.invoke(.with {
            $0.agentType = "silent"
            $0.agentKey = "k"
            $0.message = jsonPayload("ChatMessage", #"{"text":"x"}"#)
            $0.timeoutSeconds = 0.2
          })
        }
        #expect(timeout?.code == .deadlineExceeded)
        let badJSON = await #expect(throws: RPCError.self) {
          _ = try await gateway.invoke(.with {
            $0.agentType = "echo"
            $0.agentKey = "k"
            $0.message = jsonPayload("ChatMessage", #"{"text"#)
          })
        }
        #expect(badJSON?.code == .invalidArgument)
      }
    }
  }

  @Test("InvokeStream: chunks in order with their sequence numbers, then the result")
  func invokeStream() async throws {
    try await withGateway { fixture in
      try await withGatewayClient(fixture) { gateway in
        let request = Agents_Gateway_V1_InvokeRequest.with {
          $0.agentType = "streamer"
          $0.agentKey = "s"
          $0.message = jsonPayload("ChatMessage", #"{"text":"4"}"#)
        }
        let events = try await gateway.invokeStream(request) { response in
          var events: [Agents_Gateway_V1_InvokeStreamEvent] = []
          for try await event in response.messages { events.append(event) }
          return events
        }
        #expect(events.count == 5)
        #expect(events.prefix(4).map(\.sequence) == [1, 2, 3, 4])
        #expect(events.prefix(4).map(\.chunk.json) == (1...4).map { #"{"text":"part \#($0)"}"# })
        #expect(events.last?.result.result.json == #"{"text":"done"}"#)
      }
    }
  }

  @Test("Publish reaches subscribers and Subscribe taps it; ListAgentTypes lists the worker's types")
  func publishSubscribeList() async throws {
    try await withGateway { fixture in
      try await withGatewayClient(fixture) { gateway in
        let types = try await gateway.listAgentTypes(.init()).agentTypes
        #expect(types.map(\.type) == ["echo", "silent", "streamer", "thrower"])
        #expect(types.first?.subscriptions.compactMap { $0.topicType.isEmpty ? nil : $0.topicType } == ["chat"])

        try await withThrowingTaskGroup(of: [Agents_Gateway_V1_TopicEvent].self) { group in
          group.addTask {
            try await gateway.subscribe(.with { $0.topicType = "chat" }) { response in
              var events: [Agents_Gateway_V1_TopicEvent] = []
              for try await event in response.messages {
                events.append(event)
                if events.count == 2 { break }
              }
              return events
            }
          }
          #expect(await fixture.host.router.waitUntil(timeout: .seconds(5)) { $0.tapReaders == 1 })
          for text in ["one", "two"] {
            let published = try await gateway.publish(.with {
              $0.topicType = "chat"
              $0.topicSource = "r"
              $0.message = jsonPayload("ChatMessage", "{\"text\":\"\(text)\"}")
            })
            #expect(!published.id.isEmpty)
          }
          let events = try await group.next()!
          #expect(events.map(\.message.json) == [#"{"text":"one"}"#, #"{"text":"two"}"#])
          #expect(events.map(\.topicSource) == ["r", "r"])
          #expect(events[1].sequence > events[0].sequence)
        }
        #expect(try await fixture.echoLog.waitFor(count: 2).count == 2)
        let badTopic = await #expect(throws: RPCError.self) {
          _ = try await gateway.publish(.with {
            $0.topicType = "bad topic"
            $0.message = jsonPayload("ChatMessage", "{}")
          })
        }
        #expect(badTopic?.code == .invalidArgument)
      }
    }
  }

  @Test("with a token, gateway calls without it fail UNAUTHENTICATED")
  func auth() async throws {
    try await withGateway(authToken: "tok") { fixture in
      try await withGatewayClient(fixture) { gateway in
        let error = await #expect(throws: RPCError.self) { _ = try await gateway.listAgentTypes(.init()) }
        #expect(error?.code == .unauthenticated)
        let types = try await gateway.listAgentTypes(.init(), metadata: ["authorization": "Bearer tok"])
        #expect(types.agentTypes.count == 4)
      }
    }
  }

  @Test("a caller that goes away mid-Invoke cancels the agent's handler; nothing stays pending")
  func callerGoesAway() async throws {
    try await withGateway { fixture in
      try await withGatewayClient(fixture) { gateway in
        try await withThrowingTaskGroup(of: Void.self) { group in
          group.addTask {
            _ = try? await gateway.invoke(.with {
              $0.agentType = "streamer"
              $0.agentKey = "gone"
              $0.message = jsonPayload("ChatMessage", #"{"text":"hang"}"#)
            })
          }
          let started = try await fixture.streamLog.waitFor(count: 1)
          #expect(started == ["hanging"])
          group.cancelAll()
        }
        #expect(try await fixture.streamLog.waitFor(count: 2) == ["hanging", "cancelled"])
        #expect(await fixture.host.router.waitUntil(timeout: .seconds(5)) { $0.pendingRPCs == 0 })
      }
    }
  }
}
