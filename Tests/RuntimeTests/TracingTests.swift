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

  /// The spans of a chain of messages: with a host between workers, the host's own `route` (per
  /// RPC) and `deliver` (per publish) spans sit between sender and handler.
  func expectedChain(_ kind: RuntimeKind) -> [String] {
    kind == .inProcess
      ? ["send relay", "handle relay", "send leaf", "handle leaf", "publish notes", "process notes"]
      : ["send relay", "route relay", "handle relay", "send leaf", "route leaf", "handle leaf", "publish notes", "deliver notes", "process notes"]
  }

  @Test("send → (route →) handle → send → (route →) handle → publish → (deliver →) process: one trace, each span the child of the one before", arguments: RuntimeKind.allCases)
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
    let names = expectedChain(kind)
    let spans = try await finished(tracer, count: names.count)
    let chain = try names.map { name in
      try #require(spans.first { $0.operationName == name }, "no span '\(name)' in \(spans.map(\.operationName))")
    }
    #expect(chain.map(\.kind) == names.map(Self.kind))
    #expect(Set(chain.map(\.traceID)).count == 1)
    #expect(chain[0].parentSpanID == nil)
    for (parent, child) in zip(chain, chain.dropFirst()) {
      #expect(child.parentSpanID == parent.spanID, "\(child.operationName) is not a child of \(parent.operationName)")
    }
    let byName = Dictionary(uniqueKeysWithValues: zip(names, chain))
    #expect(byName["handle relay"]?.attributes["agents.agent"]?.toSpanAttribute() == .string("relay/k"))
    #expect(byName["handle relay"]?.attributes["agents.message.type"]?.toSpanAttribute() == .string("Ping"))
    #expect(byName["process notes"]?.attributes["messaging.destination.name"]?.toSpanAttribute() == .string("notes"))
    #expect(byName["process notes"]?.attributes["agents.sender"]?.toSpanAttribute() == .string("leaf/k"))
    #expect(chain.allSatisfy { $0.status?.code != .error })
    if kind != .inProcess {
      // The host's spans say who called whom, and how it ended, without reading payloads.
      let route = try #require(byName["route leaf"])
      #expect(route.attributes["agents.recipient"]?.toSpanAttribute() == .string("leaf/k"))
      #expect(route.attributes["agents.outcome"]?.toSpanAttribute() == .string("ok"))
      #expect(route.attributes["agents.callee.worker"] != nil && route.attributes["agents.caller.worker"] != nil)
      #expect(byName["deliver notes"]?.attributes["agents.deliveries"]?.toSpanAttribute() == .int64(1))
    }
  }

  static func kind(_ name: String) -> SpanKind {
    switch name.split(separator: " ")[0] {
    case "send": .client
    case "handle", "route": .server
    case "publish": .producer
    default: .consumer  // process, deliver
    }
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
    let spans = try await finished(tracer, count: kind == .inProcess ? 2 : 3)
    let send = try #require(spans.first { $0.operationName == "send thrower" })
    let handle = try #require(spans.first { $0.operationName == "handle thrower" })
    #expect(handle.status?.code == .error && send.status?.code == .error)
    #expect(!handle.errors.isEmpty && !send.errors.isEmpty)
    if kind == .inProcess {
      #expect(handle.parentSpanID == send.spanID)
    } else {
      let route = try #require(spans.first { $0.operationName == "route thrower" })
      #expect(route.parentSpanID == send.spanID && handle.parentSpanID == route.spanID)
      #expect(route.status?.code == .error)
      #expect(route.attributes["agents.outcome"]?.toSpanAttribute() == .string("handler-failed"))
    }
  }

  @Test("the host's span of an RPC it answers itself (no such agent type) says why", arguments: [RuntimeKind.testHost, .grpc])
  func refusedByTheHost(_ kind: RuntimeKind) async throws {
    let tracer = InMemoryTracer()
    try await withTracer(tracer) {
      try await withRuntimes(kind, count: 1) { runtimes in
        let error = await #expect(throws: AgentRuntimeError.self) {
          try await runtimes[0].send(ChatMessage(text: "hi"), to: AgentId(type: "nobody", key: "k"), returning: ChatReply.self)
        }
        #expect(error?.code == .unknownAgentType)
      }
    }
    let spans = try await finished(tracer, count: 2)
    let send = try #require(spans.first { $0.operationName == "send nobody" })
    let route = try #require(spans.first { $0.operationName == "route nobody" })
    #expect(route.parentSpanID == send.spanID)
    #expect(route.status?.code == .error)
    #expect(route.attributes["agents.outcome"]?.toSpanAttribute() == .string(AgentRuntimeError.Code.unknownAgentType.description))
    #expect(route.status?.message?.contains("no worker serves agent type 'nobody'") == true)
  }

  @Test("a streamed call's chunks are events on the handler's span (and on the caller's and the host's across processes), not spans", arguments: RuntimeKind.allCases)
  func chunksAreEvents(_ kind: RuntimeKind) async throws {
    let tracer = InMemoryTracer()
    try await withTracer(tracer) {
      try await withRuntimes(kind) { runtimes in
        let log = Recorder<String>()
        try await runtimes[1].register(AgentType("streamer")) { id, _ in StreamingAgent(id: id, log: log) }
        var chunks = 0
        for try await element in try runtimes[0].stream(ChatMessage(text: "3"), to: AgentId(type: "streamer", key: "k"), returning: ChatReply.self) {
          if case .chunk = element { chunks += 1 }
        }
        #expect(chunks == 3)
      }
    }
    let spans = try await finished(tracer, count: kind == .inProcess ? 2 : 3)
    #expect(!spans.contains { $0.operationName.hasPrefix("publish") || $0.operationName.hasPrefix("deliver") })
    func chunkSequence(_ name: String) throws -> [SpanAttribute?] {
      let span = try #require(spans.first { $0.operationName == name }, "no span '\(name)' in \(spans.map(\.operationName))")
      return span.events.filter { $0.name == "chunk" }.map { $0.attributes["agents.chunk.sequence"]?.toSpanAttribute() }
    }
    let expected: [SpanAttribute?] = [.int64(1), .int64(2), .int64(3)]
    #expect(try chunkSequence("handle streamer") == expected)
    if kind != .inProcess {
      #expect(try chunkSequence("route streamer") == expected)
      #expect(try chunkSequence("send streamer") == expected)
    }
  }
}
