public import AgentCore
import SwiftProtobuf

/// Answers chat with its own key; records published chat it receives.
public actor EchoAgent: RoutedAgent {
  public nonisolated let id: AgentId
  let log: Recorder<String>

  public init(id: AgentId, log: Recorder<String>) {
    self.id = id
    self.log = log
  }

  public static func registerHandlers(_ router: inout MessageRouter<EchoAgent>) {
    router.onRPC(ChatMessage.self) { agent, message, context in
      ChatReply(text: "\(agent.id.key) heard \(message.text) from \(context.sender?.description ?? "nobody")")
    }
    router.onEvent(ChatMessage.self) { agent, message, context in
      agent.log.record("\(agent.id) got \(message.text) on \(context.topic!) from \(context.sender?.description ?? "nobody")")
    }
  }
}

/// Throws from its handler.
public actor ThrowingAgent: RoutedAgent {
  public nonisolated let id: AgentId
  public init(id: AgentId) { self.id = id }

  public static func registerHandlers(_ router: inout MessageRouter<ThrowingAgent>) {
    router.on(ChatMessage.self) { _, _, _ -> ChatReply in throw Boom() }
  }
}

/// Forwards a Ping to `next` (itself by default) until `hops` reaches `limit`: self-sends and cycles.
public actor BouncingAgent: RoutedAgent {
  public nonisolated let id: AgentId
  let runtime: any AgentRuntime
  let next: AgentId?
  let limit: Int

  public init(id: AgentId, runtime: any AgentRuntime, next: AgentId? = nil, limit: Int) {
    self.id = id
    self.runtime = runtime
    self.next = next
    self.limit = limit
  }

  public static func registerHandlers(_ router: inout MessageRouter<BouncingAgent>) {
    router.onRPC(Ping.self) { agent, ping, _ in
      guard ping.hops < agent.limit else { return ping }
      return try await agent.runtime.send(Ping(hops: ping.hops + 1), to: agent.next ?? agent.id, returning: Ping.self)
    }
  }
}

/// Records the order in which messages start; waits for a gate on request.
public actor OrderAgent: RoutedAgent {
  public nonisolated let id: AgentId
  let log: Recorder<String>
  public init(id: AgentId, log: Recorder<String>) {
    self.id = id
    self.log = log
  }

  public static func registerHandlers(_ router: inout MessageRouter<OrderAgent>) {
    router.onEvent(Ping.self) { agent, ping, _ in
      agent.log.record("\(agent.id.key):\(ping.hops)")
      // Suspend so later messages could overtake if the runtime did not keep start order.
      await Task.yield()
    }
  }
}

/// Never answers (until cancelled): for deadlines and cancellation.
public actor SilentAgent: RoutedAgent {
  public nonisolated let id: AgentId
  let started: Recorder<String>
  public init(id: AgentId, started: Recorder<String>) {
    self.id = id
    self.started = started
  }

  public static func registerHandlers(_ router: inout MessageRouter<SilentAgent>) {
    router.onRPC(ChatMessage.self) { agent, _, _ -> ChatReply in
      agent.started.record("started")
      try await Task.sleep(for: .seconds(3600))
      return ChatReply(text: "too late")
    }
  }
}

/// Keeps a counter it can save and load.
public actor CounterAgent: RoutedAgent {
  public nonisolated let id: AgentId
  var count = 0
  public init(id: AgentId) { self.id = id }

  public nonisolated var metadata: AgentMetadata {
    AgentMetadata(type: id.type.name, key: id.key, description: "counts pings")
  }

  public static func registerHandlers(_ router: inout MessageRouter<CounterAgent>) {
    router.onRPC(Ping.self) { agent, _, _ in
      agent.count += 1
      return Ping(hops: agent.count)
    }
  }

  public func saveState() async throws -> AgentState { ["count": .int(count)] }

  public func loadState(_ state: AgentState) async throws {
    guard case .int(let count)? = state["count"] else {
      throw AgentRuntimeError(code: .invalidArgument, message: "state has no integer 'count'")
    }
    self.count = count
  }
}

/// Answers a protobuf StringValue with one in upper case.
public actor ShoutingAgent: RoutedAgent {
  public nonisolated let id: AgentId
  let log: Recorder<String>
  public init(id: AgentId, log: Recorder<String>) {
    self.id = id
    self.log = log
  }

  public static func registerHandlers(_ router: inout MessageRouter<ShoutingAgent>) {
    router.onRPC(Google_Protobuf_StringValue.self) { _, message, _ in
      Google_Protobuf_StringValue.with { $0.value = message.value.uppercased() }
    }
    router.onEvent(Google_Protobuf_StringValue.self) { agent, message, context in
      agent.log.record("\(agent.id) got proto \(message.value) on \(context.topic!)")
    }
  }
}

/// Streams `count` chunks ("part 1" …) for a `ChatMessage` whose text is the count, then answers
/// "done"; with text "hang" it streams one chunk, records "hanging", then waits until cancelled and
/// records "cancelled".
public actor StreamingAgent: RoutedAgent {
  public nonisolated let id: AgentId
  let log: Recorder<String>
  public init(id: AgentId, log: Recorder<String>) {
    self.id = id
    self.log = log
  }

  public static func registerHandlers(_ router: inout MessageRouter<StreamingAgent>) {
    router.onRPC(ChatMessage.self) { agent, message, context -> ChatReply in
      if message.text == "hang" {
        try await context.stream(ChatReply(text: "part 1"))
        agent.log.record("hanging")
        do {
          try await Task.sleep(for: .seconds(3600))
        } catch {
          agent.log.record("cancelled")
          throw error
        }
      }
      let count = Int(message.text) ?? 0
      for index in 1...max(1, count) where count > 0 {
        try await context.stream(ChatReply(text: "part \(index)"))
      }
      agent.log.record("streamed \(count) streaming=\(context.isStreaming)")
      return ChatReply(text: "done")
    }
  }
}
