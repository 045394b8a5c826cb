import AgentCore

/// Answers chat with its own key; records published chat it receives.
actor EchoAgent: RoutedAgent {
  nonisolated let id: AgentId
  let log: Recorder<String>

  init(id: AgentId, log: Recorder<String>) {
    self.id = id
    self.log = log
  }

  static func registerHandlers(_ router: inout MessageRouter<EchoAgent>) {
    router.onRPC(ChatMessage.self) { agent, message, context in
      ChatReply(text: "\(agent.id.key) heard \(message.text) from \(context.sender?.description ?? "nobody")")
    }
    router.onEvent(ChatMessage.self) { agent, message, context in
      agent.log.record("\(agent.id) got \(message.text) on \(context.topic!) from \(context.sender?.description ?? "nobody")")
    }
  }
}

/// Throws from its handler.
actor ThrowingAgent: RoutedAgent {
  nonisolated let id: AgentId
  init(id: AgentId) { self.id = id }

  static func registerHandlers(_ router: inout MessageRouter<ThrowingAgent>) {
    router.on(ChatMessage.self) { _, _, _ -> ChatReply in throw Boom() }
  }
}

/// Forwards a Ping to `next` (itself by default) until `hops` reaches `limit`: self-sends and cycles.
actor BouncingAgent: RoutedAgent {
  nonisolated let id: AgentId
  let runtime: any AgentRuntime
  let next: AgentId?
  let limit: Int

  init(id: AgentId, runtime: any AgentRuntime, next: AgentId? = nil, limit: Int) {
    self.id = id
    self.runtime = runtime
    self.next = next
    self.limit = limit
  }

  static func registerHandlers(_ router: inout MessageRouter<BouncingAgent>) {
    router.onRPC(Ping.self) { agent, ping, _ in
      guard ping.hops < agent.limit else { return ping }
      return try await agent.runtime.send(Ping(hops: ping.hops + 1), to: agent.next ?? agent.id, returning: Ping.self)
    }
  }
}

/// Records the order in which messages start; waits for a gate on request.
actor OrderAgent: RoutedAgent {
  nonisolated let id: AgentId
  let log: Recorder<String>
  init(id: AgentId, log: Recorder<String>) {
    self.id = id
    self.log = log
  }

  static func registerHandlers(_ router: inout MessageRouter<OrderAgent>) {
    router.onEvent(Ping.self) { agent, ping, _ in
      agent.log.record("\(agent.id.key):\(ping.hops)")
      // Suspend so later messages could overtake if the runtime did not keep start order.
      await Task.yield()
    }
  }
}

/// Never answers (until cancelled): for deadlines and cancellation.
actor SilentAgent: RoutedAgent {
  nonisolated let id: AgentId
  let started: Recorder<String>
  init(id: AgentId, started: Recorder<String>) {
    self.id = id
    self.started = started
  }

  static func registerHandlers(_ router: inout MessageRouter<SilentAgent>) {
    router.onRPC(ChatMessage.self) { agent, _, _ -> ChatReply in
      agent.started.record("started")
      try await Task.sleep(for: .seconds(3600))
      return ChatReply(text: "too late")
    }
  }
}

/// Keeps a counter it can save and load.
actor CounterAgent: RoutedAgent {
  nonisolated let id: AgentId
  var count = 0
  init(id: AgentId) { self.id = id }

  nonisolated var metadata: AgentMetadata {
    AgentMetadata(type: id.type.name, key: id.key, description: "counts pings")
  }

  static func registerHandlers(_ router: inout MessageRouter<CounterAgent>) {
    router.onRPC(Ping.self) { agent, _, _ in
      agent.count += 1
      return Ping(hops: agent.count)
    }
  }

  func saveState() async throws -> AgentState { ["count": .int(count)] }

  func loadState(_ state: AgentState) async throws {
    guard case .int(let count)? = state["count"] else {
      throw AgentRuntimeError(code: .invalidArgument, message: "state has no integer 'count'")
    }
    self.count = count
  }
}
