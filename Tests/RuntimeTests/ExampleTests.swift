import AgentCore
import AgentTestSupport
import ExampleAgents
import Testing

@Suite("Examples", .timeLimit(.minutes(1)))
struct ExampleTests {
  @Test("the seed example: one Hello! makes each of two greeters publish exactly five lines", arguments: RuntimeKind.allCases)
  func seed(kind: RuntimeKind) async throws {
    try await withRuntimes(kind) { runtimes in
      let lines = Recorder<String>()
      let done = Recorder<AgentId>()
      for (index, name) in ["worker1", "worker2"].enumerated() {
        try await runtimes[index].register(try AgentType(name), subscriptions: [.defaultTopic]) { id, runtime in
          Greeter(id: id, runtime: runtime, say: { lines.record($0) }, done: { done.record($0) })
        }
      }
      try await runtimes[1].publish(Greeting(text: "Hello!"), to: .default())
      _ = try await done.waitFor(count: 2)
      let all = lines.all
      #expect(all.count == 10)
      for name in ["worker1", "worker2"] {
        #expect(all.filter { $0.hasPrefix(name + ":") } == (1...5).map { "\(name): Hello x \($0)" })
      }
    }
  }

  @Test("the RPC example: a typed answer, the unknown-type error, the remote handler error", arguments: RuntimeKind.allCases)
  func oracle(kind: RuntimeKind) async throws {
    try await withRuntimes(kind) { runtimes in
      try await runtimes[1].register(AgentType("oracle")) { id, _ in Oracle(id: id) }
      let oracle = try AgentId(type: "oracle", key: "default")
      let answer = try await runtimes[0].send(Question(text: "six times seven?"), to: oracle, returning: Answer.self)
      #expect(answer == Answer(text: "oracle/default says: the answer to 'six times seven?' is 42", confidence: 0.99))
      let unknown = await #expect(throws: AgentRuntimeError.self) {
        try await runtimes[0].send(Question(text: "?"), to: try AgentId(type: "nobody", key: "default"), returning: Answer.self)
      }
      #expect(unknown?.code == .unknownAgentType)
      let remote = await #expect(throws: AgentRuntimeError.self) {
        try await runtimes[0].send(Question(text: ""), to: oracle, returning: Answer.self)
      }
      #expect(remote?.code == .handlerFailed)
      #expect(remote?.message == "the oracle does not answer empty questions")
    }
  }
}
