import AgentCore
import AgentTestSupport
import Foundation
import Testing

/// Records which handler ran for what.
actor Switchboard: RoutedAgent {
  nonisolated let id: AgentId
  let log: Recorder<String>

  init(id: AgentId, log: Recorder<String>) {
    self.id = id
    self.log = log
  }

  static func registerHandlers(_ router: inout MessageRouter<Switchboard>) {
    // Tried in order: the predicate handler first, then the general one.
    router.on(ChatMessage.self, where: { message, _ in message.text.hasPrefix("!") }) { agent, message, _ in
      agent.log.record("command:\(message.text)")
      return ChatReply(text: "command done")
    }
    router.on(ChatMessage.self) { agent, message, context in
      agent.log.record("chat:\(message.text):rpc=\(context.isRPC)")
      return ChatReply(text: "echo \(message.text)")
    }
    router.onEvent(Ping.self) { agent, ping, _ in
      agent.log.record("event-ping:\(ping.hops)")
    }
    router.onRPC(Ping.self) { agent, ping, _ in
      agent.log.record("rpc-ping:\(ping.hops)")
      return Ping(hops: ping.hops + 1)
    }
    router.onRPC(ChatReply.self) { _, _, _ in
      // RPC-only: a published ChatReply is unhandled.
    }
    router.on(UnknownPayload.self) { agent, unknown, _ in
      agent.log.record("unknown:\(unknown.payload.typeName)")
    }
  }
}

@Suite("RoutedAgent dispatch")
struct RoutedAgentTests {
  let log = Recorder<String>()
  let agent: Switchboard

  init() throws {
    agent = Switchboard(id: try AgentId(type: "board", key: "1"), log: log)
  }

  func context(rpc: Bool) -> MessageContext {
    MessageContext(recipient: agent.id, sender: nil, topic: rpc ? nil : .default(), isRPC: rpc, messageId: "m1")
  }

  @Test("dispatch by type, with the response")
  func byType() async throws {
    let reply = try await agent.handle(ChatMessage(text: "hi"), context: context(rpc: true))
    #expect(reply as? ChatReply == ChatReply(text: "echo hi"))
    #expect(log.all == ["chat:hi:rpc=true"])
  }

  @Test("handlers for one type are tried in registration order; the predicate picks")
  func predicate() async throws {
    let reply = try await agent.handle(ChatMessage(text: "!stop"), context: context(rpc: true))
    #expect(reply as? ChatReply == ChatReply(text: "command done"))
    _ = try await agent.handle(ChatMessage(text: "plain"), context: context(rpc: false))
    #expect(log.all == ["command:!stop", "chat:plain:rpc=false"])
  }

  @Test("event-only and RPC-only handlers see only their kind")
  func eventVersusRPC() async throws {
    let eventResult = try await agent.handle(Ping(hops: 1), context: context(rpc: false))
    #expect(eventResult == nil)
    let rpcResult = try await agent.handle(Ping(hops: 1), context: context(rpc: true))
    #expect(rpcResult as? Ping == Ping(hops: 2))
    #expect(log.all == ["event-ping:1", "rpc-ping:1"])
  }

  @Test("a Void handler answers with no response")
  func voidHandler() async throws {
    let result = try await agent.handle(ChatReply(text: "x"), context: context(rpc: true))
    #expect(result == nil)
  }

  @Test("an unhandled type is an unhandledMessage error naming agent and type")
  func unhandled() async throws {
    let error = await #expect(throws: AgentRuntimeError.self) {
      try await agent.handle(42, context: context(rpc: true))
    }
    #expect(error?.code == .unhandledMessage)
    #expect(error?.message.contains("board/1") == true)
    #expect(error?.message.contains("Int") == true)
  }

  @Test("a type whose only handler is RPC-only is unhandled as an event")
  func unhandledKind() async throws {
    let error = await #expect(throws: AgentRuntimeError.self) {
      try await agent.handle(ChatReply(text: "x"), context: context(rpc: false))
    }
    #expect(error?.code == .unhandledMessage)
    #expect(error?.message.contains("published message") == true)
  }

  @Test("an unknown payload reaches its handler")
  func unknownPayload() async throws {
    let unknown = UnknownPayload(SerializedPayload(typeName: "Mystery", contentType: ContentType.json, data: .init()))
    _ = try await agent.handle(unknown, context: context(rpc: false))
    #expect(log.all == ["unknown:Mystery"])
  }
}
