import AgentCore
import AgentTestSupport
import Synchronization
import Testing

@Suite("In-process runtime", .timeLimit(.minutes(1)))
struct InProcessRuntimeTests {
  let echo = AgentType("echo")

  @Test("different agents run concurrently: one waits for another without deadlock")
  func differentAgentsConcurrent() async throws {
    try await withInProcessRuntime { runtime in
      let bouncer = AgentType("bouncer")
      let silentLog = Recorder<String>()
      try await runtime.register(AgentType("silent")) { id, _ in SilentAgent(id: id, started: silentLog) }
      try await runtime.register(bouncer) { id, runtime in BouncingAgent(id: id, runtime: runtime, limit: 1) }
      try await withThrowingTaskGroup(of: Void.self) { group in
        // Occupy one agent with a handler that never finishes ...
        group.addTask {
          _ = try? await runtime.send(ChatMessage(text: "x"), to: try AgentId(type: "silent", key: "k"), timeout: .seconds(30))
        }
        _ = try await silentLog.waitFor(count: 1)
        // ... another agent still answers.
        #expect(try await runtime.send(Ping(hops: 0), to: AgentId(type: bouncer, key: "k"), returning: Ping.self).hops == 1)
        group.cancelAll()
      }
    }
  }

  @Test("after shutdown, sends and publishes fail as unavailable")
  func afterShutdown() async throws {
    let runtime = try await withInProcessRuntime { runtime in
      try await runtime.register(echo) { id, _ in EchoAgent(id: id, log: Recorder()) }
      return runtime
    }
    let error = await #expect(throws: AgentRuntimeError.self) {
      try await runtime.send(ChatMessage(text: "x"), to: AgentId(type: self.echo, key: "k"))
    }
    #expect(error?.code == .unavailable)
    await #expect(throws: AgentRuntimeError.self) { try await runtime.publish(ChatMessage(text: "x"), to: .default()) }
  }

  @Test("a failing factory fails the call and a later call tries again")
  func failingFactory() async throws {
    try await withInProcessRuntime { runtime in
      let attempts = Mutex(0)
      try await runtime.register(echo) { id, _ in
        let attempt = attempts.withLock { $0 += 1; return $0 }
        if attempt == 1 { throw Boom() }
        return EchoAgent(id: id, log: Recorder())
      }
      let error = await #expect(throws: AgentRuntimeError.self) {
        try await runtime.send(ChatMessage(text: "x"), to: AgentId(type: self.echo, key: "k"), returning: ChatReply.self)
      }
      #expect(error?.message.contains("could not create agent echo/k") == true)
      let reply = try await runtime.send(ChatMessage(text: "x"), to: AgentId(type: echo, key: "k"), returning: ChatReply.self)
      #expect(reply.text.hasPrefix("k heard x"))
    }
  }
}
