import AgentCore
import AgentRuntimeTesting
import Testing
import TranslatorAgents

@Suite("Translator and Auditor", .timeLimit(.minutes(1)))
struct TranslatorAgentsTests {
  @Test("the translator answers over RPC, and refuses a language it has no dictionary for")
  func translate() async throws {
    // Every message is serialized and read back on its way, as between processes.
    try await withTestRuntime { runtime in
      try await registerTranslatorAgents(on: runtime)
      let translator: AgentId = "translator/default"
      let reply = try await runtime.send(
        TranslateRequest(text: "Hello world", to: "fr"), to: translator, returning: TranslateReply.self)
      #expect(reply == TranslateReply(text: "bonjour monde"))
      let error = await #expect(throws: AgentRuntimeError.self) {
        try await runtime.send(TranslateRequest(text: "hi", to: "xx"), to: translator, returning: TranslateReply.self)
      }
      #expect(error?.message.contains("no dictionary for 'xx'") == true)
    }
  }

  @Test("the auditor counts what is published to audit.events, per key")
  func audit() async throws {
    try await withTestRuntime { runtime in
      try await registerTranslatorAgents(on: runtime)
      for what in ["login", "logout", "login"] {
        try await runtime.publish(AuditEvent(what: what), to: "audit.events/site-1")
      }
      try await runtime.publish(AuditEvent(what: "other"), to: "audit.events/site-2")
      // Messages to one agent start in arrival order, so the count follows the three publishes.
      let total = try await runtime.send(AuditCount(), to: "auditor/site-1", returning: AuditTotal.self)
      #expect(total == AuditTotal(count: 3))
      // A test can look at an agent instance itself.
      let auditor = try await runtime.agent("auditor/site-2", as: Auditor.self)
      #expect(await auditor.count == 1)
    }
  }

  @Test("through a host: a worker serves both agents; another program calls and publishes")
  func throughHost() async throws {
    try await withTestHost { test in
      try await test.withWorker { worker in
        try await registerTranslatorAgents(on: worker)
        let caller = SerializationRegistry(json: TranslateRequest.self, TranslateReply.self, AuditEvent.self, AuditCount.self, AuditTotal.self)
        try await test.withWorker(serializers: caller) { client in
          let reply = try await client.send(
            TranslateRequest(text: "hello", to: "de"), to: "translator/default", returning: TranslateReply.self)
          #expect(reply == TranslateReply(text: "hallo"))
          try await client.publish(AuditEvent(what: "login"), to: "audit.events/web")
          let total = try await client.send(AuditCount(), to: "auditor/web", returning: AuditTotal.self)
          #expect(total == AuditTotal(count: 1))
        }
      }
    }
  }
}
