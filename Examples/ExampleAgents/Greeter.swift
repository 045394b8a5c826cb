public import AgentCore

/// A greeting on the default topic.
public struct Greeting: Codable, Sendable, Equatable {
  public var text: String
  public init(text: String) { self.text = text }
}

/// Answers every greeting it receives from someone else by publishing `"<type>: Hello x N"` to the
/// default topic, until it has published `limit` times.
///
/// The same code runs on the in-process runtime and on a gRPC worker.
public actor Greeter: RoutedAgent {
  public nonisolated let id: AgentId
  let runtime: any AgentRuntime
  let limit: Int
  let say: @Sendable (String) -> Void
  let done: @Sendable (AgentId) -> Void
  var published = 0

  /// - Parameters:
  ///   - say: called with each line the agent publishes.
  ///   - done: called once the agent has published `limit` times.
  public init(
    id: AgentId, runtime: any AgentRuntime, limit: Int = 5,
    say: @escaping @Sendable (String) -> Void, done: @escaping @Sendable (AgentId) -> Void
  ) {
    self.id = id
    self.runtime = runtime
    self.limit = limit
    self.say = say
    self.done = done
  }

  public static func registerHandlers(_ router: inout MessageRouter<Greeter>) {
    router.onEvent(Greeting.self) { agent, _, _ in
      guard agent.published < agent.limit else { return }
      agent.published += 1
      // Captured before the await: while this handler is suspended, the next greeting may run on
      // the actor (reentrancy) and change `published`.
      let count = agent.published
      let text = "\(agent.id.type): Hello x \(count)"
      agent.say(text)
      try await agent.runtime.publish(Greeting(text: text), to: .default())
      if count == agent.limit { agent.done(agent.id) }
    }
  }
}
