import AgentCore
import AgentTestSupport
import AgentWire
import GrpcHost
import GrpcWorker
import Testing

/// Answers any chat with a reply of the requested size (the message text is the size).
actor SizedReplyAgent: RoutedAgent {
  nonisolated let id: AgentId
  init(id: AgentId) { self.id = id }

  static func registerHandlers(_ router: inout MessageRouter<SizedReplyAgent>) {
    router.onRPC(ChatMessage.self) { _, message, _ in
      ChatReply(text: String(repeating: "y", count: Int(message.text) ?? 0))
    }
  }
}

@Suite("Worker: message size limits", .timeLimit(.minutes(1)))
struct WorkerLimitsTests {
  @Test("oversized messages are refused with resourceExhausted where they start; later traffic carries on")
  func limits() async throws {
    try await withAgentHost(
      configuration: .init(address: HostAddress(host: "127.0.0.1", port: 0)), logger: quietLogger
    ) { host in
      let address = try await host.listeningAddress()
      var limitedConfiguration = GrpcWorkerRuntime.Configuration(
        host: address, defaultRPCTimeout: .seconds(10), shutdownGracePeriod: .seconds(1))
      limitedConfiguration.maxMessageSize = 1024
      let small = limitedConfiguration
      var roomyConfiguration = limitedConfiguration
      roomyConfiguration.maxMessageSize = 1024 * 1024
      let large = roomyConfiguration
      try await withGrpcWorker(configuration: small, serializers: testSerializers, logger: quietLogger) { limited in
        try await withGrpcWorker(configuration: large, serializers: testSerializers, logger: quietLogger) { roomy in
          try await limited.register(AgentType("sized")) { id, _ in SizedReplyAgent(id: id) }
          let log = Recorder<String>()
          try await roomy.register(AgentType("echo"), subscriptions: [.type("news")]) { id, _ in EchoAgent(id: id, log: log) }
          let sized = try AgentId(type: "sized", key: "k")
          let big = ChatMessage(text: String(repeating: "x", count: 2048))

          // Refused locally, before anything is sent.
          let publish = await #expect(throws: AgentRuntimeError.self) {
            try await limited.publish(big, to: TopicId(type: "news", source: "s"))
          }
          #expect(publish?.code == .resourceExhausted)
          #expect(publish?.message.contains("over the limit of 1024 bytes (maxMessageSize)") == true, "\(String(describing: publish))")
          let send = await #expect(throws: AgentRuntimeError.self) {
            _ = try await limited.send(big, to: try AgentId(type: "echo", key: "k"))
          }
          #expect(send?.code == .resourceExhausted)

          // Refused by the receiving worker, which answers instead of dropping it.
          let received = await #expect(throws: AgentRuntimeError.self) {
            _ = try await roomy.send(big, to: sized)
          }
          #expect(received?.code == .resourceExhausted)
          #expect(received?.message.contains("over the receiving worker's limit") == true, "\(String(describing: received))")

          // A handler result that is too large is answered with the error.
          let reply = await #expect(throws: AgentRuntimeError.self) {
            _ = try await roomy.send(ChatMessage(text: "4096"), to: sized)
          }
          #expect(reply?.code == .resourceExhausted, "\(String(describing: reply))")

          // Everything else still works, on both workers.
          #expect(try await roomy.send(ChatMessage(text: "10"), to: sized, returning: ChatReply.self).text.count == 10)
          try await limited.publish(ChatMessage(text: "fits"), to: TopicId(type: "news", source: "s"))
          #expect(try await log.waitFor(count: 1) == ["echo/s got fits on news/s from nobody"])
        }
      }
    }
  }
}
