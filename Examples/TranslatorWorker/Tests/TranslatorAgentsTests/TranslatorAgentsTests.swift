import AgentCore
import Testing
import TranslatorAgents

@Suite("Translator and Auditor", .timeLimit(.minutes(1)))
struct TranslatorAgentsTests {
  @Test("the translator answers over RPC, and refuses a language it has no dictionary for")
  func translate() async throws {
    try await withInProcessRuntime { runtime in
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
    try await withInProcessRuntime { runtime in
      try await registerTranslatorAgents(on: runtime)
      for what in ["login", "logout", "login"] {
        try await runtime.publish(AuditEvent(what: what), to: "audit.events/site-1")
      }
      try await runtime.publish(AuditEvent(what: "other"), to: "audit.events/site-2")
      let auditor: AgentId = "auditor/site-1"
      // Messages to one agent start in arrival order, so the count follows the three publishes.
      let total = try await runtime.send(AuditCount(), to: auditor, returning: AuditTotal.self)
      #expect(total == AuditTotal(count: 3))
    }
  }
}
