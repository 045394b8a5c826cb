// Two agents on one in-process runtime, both subscribed to the default topic.
//
// One publish of "Hello!" starts them off; each agent answers every message it receives from the
// other by publishing "<name>: Hello x N", until each has published exactly five times.
//
//   swift run InProcessChat
import AgentCore

struct Greeting: Codable, Sendable {
  var text: String
}

actor Greeter: RoutedAgent {
  nonisolated let id: AgentId
  let runtime: any AgentRuntime
  let limit: Int
  let finished: AsyncStream<String>.Continuation
  var published = 0

  init(id: AgentId, runtime: any AgentRuntime, limit: Int, finished: AsyncStream<String>.Continuation) {
    self.id = id
    self.runtime = runtime
    self.limit = limit
    self.finished = finished
  }

  static func registerHandlers(_ router: inout MessageRouter<Greeter>) {
    router.onEvent(Greeting.self) { agent, _, _ in
      guard agent.published < agent.limit else { return }
      agent.published += 1
      let text = "\(agent.id.type): Hello x \(agent.published)"
      print(text)
      try await agent.runtime.publish(Greeting(text: text), to: .default())
      if agent.published == agent.limit { agent.finished.yield(agent.id.type.name) }
    }
  }
}

let (finished, finishedContinuation) = AsyncStream<String>.makeStream()
try await withInProcessRuntime { runtime in
  for name in ["worker1", "worker2"] {
    try await runtime.register(try AgentType(name), subscriptions: [.defaultTopic]) { id, runtime in
      Greeter(id: id, runtime: runtime, limit: 5, finished: finishedContinuation)
    }
  }
  try await runtime.publish(Greeting(text: "Hello!"), to: .default())
  var done = 0
  for await _ in finished {
    done += 1
    if done == 2 { break }
  }
}
