import AgentCore
import Synchronization
import Testing

@Suite("In-process runtime", .timeLimit(.minutes(1)))
struct InProcessRuntimeTests {
  let echo = try! AgentType("echo")

  @Test("send returns the typed response; the sender is filled in")
  func sendTyped() async throws {
    try await withInProcessRuntime { runtime in
      let log = Recorder<String>()
      try await runtime.register(echo) { id, _ in EchoAgent(id: id, log: log) }
      let reply = try await runtime.send(
        ChatMessage(text: "hi"), to: AgentId(type: echo, key: "k1"), returning: ChatReply.self)
      #expect(reply.text == "k1 heard hi from nobody")
      let fromSomeone = try await runtime.send(
        ChatMessage(text: "yo"), to: AgentId(type: echo, key: "k1"), returning: ChatReply.self,
        sender: try AgentId(type: "caller", key: "c"))
      #expect(fromSomeone.text == "k1 heard yo from caller/c")
      // Asking for the wrong response type is a clear error.
      let error = await #expect(throws: AgentRuntimeError.self) {
        try await runtime.send(ChatMessage(text: "x"), to: AgentId(type: self.echo, key: "k1"), returning: Ping.self)
      }
      #expect(error?.code == .unexpectedResponse)
    }
  }

  @Test("agents are created lazily, one per key")
  func keyedInstances() async throws {
    try await withInProcessRuntime { runtime in
      let created = Recorder<String>()
      try await runtime.register(try AgentType("counter")) { id, _ in
        created.record(id.key)
        return CounterAgent(id: id)
      }
      #expect(created.all.isEmpty)
      let a = try AgentId(type: "counter", key: "a")
      let b = try AgentId(type: "counter", key: "b")
      #expect(try await runtime.send(Ping(hops: 0), to: a, returning: Ping.self).hops == 1)
      #expect(try await runtime.send(Ping(hops: 0), to: a, returning: Ping.self).hops == 2)
      #expect(try await runtime.send(Ping(hops: 0), to: b, returning: Ping.self).hops == 1)
      #expect(created.all == ["a", "b"])
    }
  }

  @Test("a send to a type nobody registered throws at once")
  func unknownRecipient() async throws {
    try await withInProcessRuntime { runtime in
      let error = await #expect(throws: AgentRuntimeError.self) {
        try await runtime.send(ChatMessage(text: "x"), to: try AgentId(type: "nobody", key: "k"), timeout: .seconds(30))
      }
      #expect(error?.code == .unknownAgentType)
      #expect(error?.message.contains("'nobody'") == true)
    }
  }

  @Test("a handler error reaches the caller with its text")
  func handlerError() async throws {
    try await withInProcessRuntime { runtime in
      try await runtime.register(try AgentType("thrower")) { id, _ in ThrowingAgent(id: id) }
      let error = await #expect(throws: AgentRuntimeError.self) {
        try await runtime.send(ChatMessage(text: "x"), to: try AgentId(type: "thrower", key: "k"), returning: ChatReply.self)
      }
      #expect(error?.code == .handlerFailed)
      #expect(error?.message == "boom: the handler failed on purpose")
    }
  }

  @Test("a message with no handler is an unhandledMessage error for the caller")
  func unhandledRPC() async throws {
    try await withInProcessRuntime { runtime in
      try await runtime.register(try AgentType("thrower")) { id, _ in ThrowingAgent(id: id) }
      let error = await #expect(throws: AgentRuntimeError.self) {
        try await runtime.send(Ping(hops: 0), to: try AgentId(type: "thrower", key: "k"))
      }
      #expect(error?.code == .unhandledMessage)
    }
  }

  @Test("a handler that sends to itself does not deadlock")
  func selfSend() async throws {
    try await withInProcessRuntime { runtime in
      try await runtime.register(try AgentType("bouncer")) { id, runtime in
        BouncingAgent(id: id, runtime: runtime, limit: 5)
      }
      let result = try await runtime.send(Ping(hops: 0), to: try AgentId(type: "bouncer", key: "k"), returning: Ping.self)
      #expect(result.hops == 5)
    }
  }

  @Test("a call cycle A -> B -> A -> B does not deadlock")
  func cycle() async throws {
    try await withInProcessRuntime { runtime in
      let a = try AgentId(type: "a", key: "k")
      let b = try AgentId(type: "b", key: "k")
      try await runtime.register(a.type) { id, runtime in BouncingAgent(id: id, runtime: runtime, next: b, limit: 6) }
      try await runtime.register(b.type) { id, runtime in BouncingAgent(id: id, runtime: runtime, next: a, limit: 6) }
      #expect(try await runtime.send(Ping(hops: 0), to: a, returning: Ping.self).hops == 6)
    }
  }

  @Test("messages to one agent start in arrival order")
  func startOrder() async throws {
    try await withInProcessRuntime { runtime in
      let log = Recorder<String>()
      try await runtime.register(try AgentType("order"), subscriptions: [.type("seq")]) { id, _ in
        OrderAgent(id: id, log: log)
      }
      let topic = try TopicId(type: "seq", source: "one")
      for hop in 0..<200 {
        try await runtime.publish(Ping(hops: hop), to: topic)
      }
      let entries = try await log.waitFor(count: 200)
      #expect(entries == (0..<200).map { "one:\($0)" })
    }
  }

  @Test("different agents run concurrently: one waits for another without deadlock")
  func differentAgentsConcurrent() async throws {
    try await withInProcessRuntime { runtime in
      let bouncer = try AgentType("bouncer")
      let silentLog = Recorder<String>()
      try await runtime.register(try AgentType("silent")) { id, _ in SilentAgent(id: id, started: silentLog) }
      try await runtime.register(bouncer) { id, runtime in BouncingAgent(id: id, runtime: runtime, limit: 1) }
      try await withThrowingTaskGroup(of: Void.self) { group in
        // Occupy one agent with a handler that never finishes ...
        group.addTask {
          _ = try? await runtime.send(ChatMessage(text: "x"), to: try AgentId(type: "silent", key: "k"), timeout: .seconds(30))
        }
        _ = try await silentLog.waitFor(count: 1)
        // ... another agent still answers.
        #expect(try await runtime.send(Ping(hops: 0), to: AgentId(type: bouncer, key: "k"), returning: Ping.self).hops == 1)
        group.cancelAll()
      }
    }
  }

  @Test("a send times out at its deadline with a clear error")
  func deadline() async throws {
    try await withInProcessRuntime(configuration: .init(defaultRPCTimeout: .milliseconds(250))) { runtime in
      let started = Recorder<String>()
      try await runtime.register(try AgentType("silent")) { id, _ in SilentAgent(id: id, started: started) }
      let error = await #expect(throws: AgentRuntimeError.self) {
        try await runtime.send(ChatMessage(text: "x"), to: try AgentId(type: "silent", key: "k"), returning: ChatReply.self)
      }
      #expect(error?.code == .deadlineExceeded)
      #expect(error?.message == "no response from silent/k within 0.25 s")
    }
  }

  @Test("a cancelled caller stops waiting")
  func cancellation() async throws {
    try await withInProcessRuntime { runtime in
      let started = Recorder<String>()
      try await runtime.register(try AgentType("silent")) { id, _ in SilentAgent(id: id, started: started) }
      let outcome = Recorder<AgentRuntimeError>()
      await withTaskGroup(of: Void.self) { group in
        group.addTask {
          do {
            _ = try await runtime.send(ChatMessage(text: "x"), to: try AgentId(type: "silent", key: "k"), timeout: .seconds(30))
          } catch let error as AgentRuntimeError {
            outcome.record(error)
          } catch {}
        }
        _ = try? await started.waitFor(count: 1)
        group.cancelAll()
      }
      #expect(outcome.all.map(\.code) == [.cancelled])
    }
  }

  @Test("publish reaches type, prefix and default subscribers keyed by the topic source, not the publisher")
  func publishRouting() async throws {
    try await withInProcessRuntime { runtime in
      let log = Recorder<String>()
      try await runtime.register(try AgentType("typed"), subscriptions: [.type("news")]) { id, _ in EchoAgent(id: id, log: log) }
      try await runtime.register(try AgentType("prefixed"), subscriptions: [.typePrefix("ne")]) { id, _ in EchoAgent(id: id, log: log) }
      try await runtime.register(try AgentType("defaulted"), subscriptions: [.defaultTopic]) { id, _ in EchoAgent(id: id, log: log) }

      try await runtime.publish(ChatMessage(text: "n1"), to: TopicId(type: "news", source: "s1"))
      try await runtime.publish(ChatMessage(text: "n2"), to: TopicId(type: "nearby", source: "s2"))
      try await runtime.publish(ChatMessage(text: "d"), to: .default(source: "s3"))
      let entries = Set(try await log.waitFor(count: 4))
      #expect(entries == [
        "typed/s1 got n1 on news/s1 from nobody",
        "prefixed/s1 got n1 on news/s1 from nobody",
        "prefixed/s2 got n2 on nearby/s2 from nobody",
        "defaulted/s3 got d on default/s3 from nobody",
      ])
    }
  }

  @Test("the publisher does not receive its own publish; overlapping subscriptions deliver once")
  func publisherExcluded() async throws {
    try await withInProcessRuntime { runtime in
      let log = Recorder<String>()
      let echoType = try AgentType("echo")
      try await runtime.register(echoType, subscriptions: [.defaultTopic, .typePrefix("def")]) { id, _ in
        EchoAgent(id: id, log: log)
      }
      let publisher = AgentId(type: echoType, key: "room")
      // Published "as" echo/room: that instance must not get it.
      try await runtime.publish(ChatMessage(text: "mine"), to: .default(source: "room"), options: PublishOptions(sender: publisher))
      // From nobody: delivered, once despite two matching subscriptions.
      try await runtime.publish(ChatMessage(text: "theirs"), to: .default(source: "room"))
      // Barrier: an RPC to the same agent starts after every message that arrived before it.
      _ = try await runtime.send(ChatMessage(text: "barrier"), to: publisher, returning: ChatReply.self)
      #expect(log.all == ["echo/room got theirs on default/room from nobody"])
    }
  }

  @Test("subscriptions can be added and removed; duplicates and unknown ids are errors")
  func addRemoveSubscriptions() async throws {
    try await withInProcessRuntime { runtime in
      let log = Recorder<String>()
      try await runtime.register(echo) { id, _ in EchoAgent(id: id, log: log) }
      let subscription = try Subscription(id: "sub-1", filter: .type("alerts"), agentType: echo)
      try await runtime.addSubscription(subscription)
      let duplicate = await #expect(throws: AgentRuntimeError.self) {
        try await runtime.addSubscription(try Subscription(id: "sub-2", filter: .type("alerts"), agentType: self.echo))
      }
      #expect(duplicate?.code == .alreadyExists)
      try await runtime.publish(ChatMessage(text: "a1"), to: TopicId(type: "alerts", source: "k"))
      _ = try await log.waitFor(count: 1)
      try await runtime.removeSubscription(id: "sub-1")
      let missing = await #expect(throws: AgentRuntimeError.self) { try await runtime.removeSubscription(id: "sub-1") }
      #expect(missing?.code == .notFound)
      try await runtime.publish(ChatMessage(text: "a2"), to: TopicId(type: "alerts", source: "k"))
      _ = try await runtime.send(ChatMessage(text: "barrier"), to: AgentId(type: echo, key: "k"), returning: ChatReply.self)
      #expect(log.all == ["echo/k got a1 on alerts/k from nobody"])
    }
  }

  @Test("registering a type twice is an error and leaves the first registration")
  func duplicateRegistration() async throws {
    try await withInProcessRuntime { runtime in
      let log = Recorder<String>()
      try await runtime.register(echo) { id, _ in EchoAgent(id: id, log: log) }
      let error = await #expect(throws: AgentRuntimeError.self) {
        try await runtime.register(self.echo) { id, _ in ThrowingAgent(id: id) }
      }
      #expect(error?.code == .alreadyExists)
      _ = try await runtime.send(ChatMessage(text: "x"), to: AgentId(type: echo, key: "k"), returning: ChatReply.self)
    }
  }

  @Test("metadata and state save/load")
  func stateAndMetadata() async throws {
    try await withInProcessRuntime { runtime in
      try await runtime.register(try AgentType("counter")) { id, _ in CounterAgent(id: id) }
      let a = try AgentId(type: "counter", key: "a")
      let b = try AgentId(type: "counter", key: "b")
      #expect(try await runtime.agentMetadata(a) == AgentMetadata(type: "counter", key: "a", description: "counts pings"))
      _ = try await runtime.send(Ping(hops: 0), to: a, returning: Ping.self)
      _ = try await runtime.send(Ping(hops: 0), to: a, returning: Ping.self)
      let saved = try await runtime.saveAgentState(a)
      #expect(saved == ["count": 2])
      try await runtime.loadAgentState(b, state: saved)
      #expect(try await runtime.send(Ping(hops: 0), to: b, returning: Ping.self).hops == 3)
      await #expect(throws: AgentRuntimeError.self) { try await runtime.loadAgentState(b, state: ["count": "x"]) }
    }
  }

  @Test("after shutdown, sends and publishes fail as unavailable")
  func afterShutdown() async throws {
    let runtime = try await withInProcessRuntime { runtime in
      try await runtime.register(echo) { id, _ in EchoAgent(id: id, log: Recorder()) }
      return runtime
    }
    let error = await #expect(throws: AgentRuntimeError.self) {
      try await runtime.send(ChatMessage(text: "x"), to: AgentId(type: self.echo, key: "k"))
    }
    #expect(error?.code == .unavailable)
    await #expect(throws: AgentRuntimeError.self) { try await runtime.publish(ChatMessage(text: "x"), to: .default()) }
  }

  @Test("a failing factory fails the call and a later call tries again")
  func failingFactory() async throws {
    try await withInProcessRuntime { runtime in
      let attempts = Mutex(0)
      try await runtime.register(echo) { id, _ in
        let attempt = attempts.withLock { $0 += 1; return $0 }
        if attempt == 1 { throw Boom() }
        return EchoAgent(id: id, log: Recorder())
      }
      let error = await #expect(throws: AgentRuntimeError.self) {
        try await runtime.send(ChatMessage(text: "x"), to: AgentId(type: self.echo, key: "k"), returning: ChatReply.self)
      }
      #expect(error?.message.contains("could not create agent echo/k") == true)
      let reply = try await runtime.send(ChatMessage(text: "x"), to: AgentId(type: echo, key: "k"), returning: ChatReply.self)
      #expect(reply.text.hasPrefix("k heard x"))
    }
  }
}
