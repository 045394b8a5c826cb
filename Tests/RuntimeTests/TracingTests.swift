import AgentCore
import AgentTestSupport
import InMemoryTracing
import Testing
import Tracing

/// Calls its `leaf` agent with the Ping it gets.
actor RelayAgent: RoutedAgent {
  nonisolated let id: AgentId
  let runtime: any AgentRuntime

  init(id: AgentId, runtime: any AgentRuntime) {
    self.id = id
    self.runtime = runtime
  }

  static func registerHandlers(_ router: inout MessageRouter<RelayAgent>) {
    router.onRPC(Ping.self) { agent, ping, _ in
      try await agent.runtime.send(ping, to: AgentId(type: "leaf", key: agent.id.key), returning: Ping.self)
    }
  }
}

/// Publishes a note about each Ping it answers.
actor LeafAgent: RoutedAgent {
  nonisolated let id: AgentId
  let runtime: any AgentRuntime

  init(id: AgentId, runtime: any AgentRuntime) {
    self.id = id
    self.runtime = runtime
  }

  static func registerHandlers(_ router: inout MessageRouter<LeafAgent>) {
    router.onRPC(Ping.self) { agent, ping, _ in
      try await agent.runtime.publish(ChatMessage(text: "pinged"), to: TopicId(type: "notes", source: agent.id.key))
      return Ping(hops: ping.hops + 1)
    }
  }
}

/// Spans: a call, its handler, the handler's own call and publish, and the publish's handlers form
/// one trace with the right parents, in-process and across workers; a failing handler's spans say so.
@Suite("Tracing: spans and context propagation", .timeLimit(.minutes(1)))
struct TracingTests {
  /// Waits (bounded) until `tracer` has finished `count` spans.
  func finished(_ tracer: InMemoryTracer, count: Int) async throws -> [FinishedInMemorySpan] {
    let deadline = ContinuousClock.now + .seconds(10)
    while tracer.finishedSpans.count < count {
      guard ContinuousClock.now < deadline else {
        Issue.record("only \(tracer.finishedSpans.map(\.operationName)) finished")
        throw AgentRuntimeError(code: .deadlineExceeded, message: "spans")
      }
      try await Task.sleep(for: .milliseconds(10))
    }
    return tracer.finishedSpans
  }

  @Test("send → handle → send → handle → publish → process: one trace, each span the child of the one before", arguments: RuntimeKind.allCases)
  func oneTrace(_ kind: RuntimeKind) async throws {
    let tracer = InMemoryTracer()
    try await withTracer(tracer) {
      try await withRuntimes(kind) { runtimes in
        let log = Recorder<String>()
        try await runtimes[0].register(AgentType("relay")) { id, runtime in RelayAgent(id: id, runtime: runtime) }
        try await runtimes[1].register(AgentType("leaf")) { id, runtime in LeafAgent(id: id, runtime: runtime) }
        try await runtimes[0].register(AgentType("listener"), subscriptions: [.type("notes")]) { id, _ in EchoAgent(id: id, log: log) }
        let answer = try await runtimes[0].send(Ping(hops: 0), to: AgentId(type: "relay", key: "k"), returning: Ping.self)
        #expect(answer.hops == 1)
        _ = try await log.waitFor(count: 1)
      }
    }
    let spans = try await finished(tracer, count: 6)
    func span(_ name: String) throws -> FinishedInMemorySpan {
      try #require(spans.first { $0.operationName == name }, "no span '\(name)' in \(spans.map(\.operationName))")
    }
    let chain = try ["send relay", "handle relay", "send leaf", "handle leaf", "publish notes", "process notes"].map(span)
    #expect(chain.map(\.kind) == [.client, .server, .client, .server, .producer, .consumer])
    #expect(Set(chain.map(\.traceID)).count == 1)
    #expect(chain[0].parentSpanID == nil)
    for (parent, child) in zip(chain, chain.dropFirst()) {
      #expect(child.parentSpanID == parent.spanID, "\(child.operationName) is not a child of \(parent.operationName)")
    }
    #expect(chain[1].attributes["agents.agent"]?.toSpanAttribute() == .string("relay/k"))
    #expect(chain[1].attributes["agents.message.type"]?.toSpanAttribute() == .string("Ping"))
    #expect(chain[5].attributes["messaging.destination.name"]?.toSpanAttribute() == .string("notes"))
    #expect(chain[5].attributes["agents.sender"]?.toSpanAttribute() == .string("leaf/k"))
    #expect(chain.allSatisfy { $0.status?.code != .error })
  }

  @Test("a failing handler: its span and its caller's record the error", arguments: RuntimeKind.allCases)
  func failure(_ kind: RuntimeKind) async throws {
    let tracer = InMemoryTracer()
    try await withTracer(tracer) {
      try await withRuntimes(kind) { runtimes in
        try await runtimes[1].register(AgentType("thrower")) { id, _ in ThrowingAgent(id: id) }
        await #expect(throws: AgentRuntimeError.self) {
          try await runtimes[0].send(ChatMessage(text: "hi"), to: AgentId(type: "thrower", key: "k"), returning: ChatReply.self)
        }
      }
    }
    let spans = try await finished(tracer, count: 2)
    let send = try #require(spans.first { $0.operationName == "send thrower" })
    let handle = try #require(spans.first { $0.operationName == "handle thrower" })
    #expect(handle.parentSpanID == send.spanID)
    #expect(handle.status?.code == .error && send.status?.code == .error)
    #expect(!handle.errors.isEmpty && !send.errors.isEmpty)
  }
}
