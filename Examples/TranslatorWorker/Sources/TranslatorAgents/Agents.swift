import AgentCore

/// Answers `TranslateRequest` over RPC (a toy dictionary, so the example needs no model).
public actor Translator: RoutedAgent {
  public nonisolated let id: AgentId
  public init(id: AgentId) { self.id = id }

  static let words = ["fr": ["hello": "bonjour", "world": "monde"], "de": ["hello": "hallo", "world": "welt"]]

  public static func registerHandlers(_ router: inout MessageRouter<Translator>) {
    router.onRPC(TranslateRequest.self) { _, request, _ in
      guard let dictionary = words[request.to] else {
        throw AgentRuntimeError(code: .invalidArgument, message: "no dictionary for '\(request.to)'")
      }
      let words = request.text.lowercased().split(separator: " ").map { dictionary[String($0)] ?? String($0) }
      return TranslateReply(text: words.joined(separator: " "))
    }
  }
}

/// Counts the `AuditEvent`s published to `audit.events`, and answers `AuditCount` with the total.
public actor Auditor: RoutedAgent {
  public nonisolated let id: AgentId
  public private(set) var count = 0
  public init(id: AgentId) { self.id = id }
  public static let subscriptions: [TopicFilter] = [.type("audit.events")]

  public static func registerHandlers(_ router: inout MessageRouter<Auditor>) {
    router.onEvent(AuditEvent.self) { agent, _, _ in agent.count += 1 }
    router.onRPC(AuditCount.self) { agent, _, _ in AuditTotal(count: agent.count) }
  }
}

/// Registers both agent types on `runtime` (in process or a worker); their messages' serializers
/// come from the handlers.
public func registerTranslatorAgents(on runtime: any AgentRuntime) async throws {
  try await runtime.register("translator") { id, _ in Translator(id: id) }
  try await runtime.register("auditor") { id, _ in Auditor(id: id) }
}
