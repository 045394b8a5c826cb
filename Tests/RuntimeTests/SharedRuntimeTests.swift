import AgentCore
import AgentTestSupport
import SwiftProtobuf
import Synchronization
import Testing

/// One test body, two runtimes: the same agent code must behave the same in-process and across
/// processes through the host.
@Suite("Runtime semantics, in-process and over gRPC", .timeLimit(.minutes(1)))
struct SharedRuntimeTests {
  @Test("send returns the typed response; the sender is filled in", arguments: RuntimeKind.allCases)
  func sendTyped(kind: RuntimeKind) async throws {
    try await withRuntimes(kind) { runtimes in
      let log = Recorder<String>()
      let echo = AgentType("echo")
      try await runtimes[1].register(echo) { id, _ in EchoAgent(id: id, log: log) }
      let reply = try await runtimes[0].send(ChatMessage(text: "hi"), to: AgentId(type: echo, key: "k1"), returning: ChatReply.self)
      #expect(reply.text == "k1 heard hi from nobody")
      let fromSomeone = try await runtimes[0].send(
        ChatMessage(text: "yo"), to: AgentId(type: echo, key: "k1"), returning: ChatReply.self,
        sender: try AgentId(type: "caller", key: "c"))
      #expect(fromSomeone.text == "k1 heard yo from caller/c")
      let wrongType = await #expect(throws: AgentRuntimeError.self) {
        try await runtimes[0].send(ChatMessage(text: "x"), to: AgentId(type: echo, key: "k1"), returning: Ping.self)
      }
      #expect(wrongType?.code == .unexpectedResponse)
    }
  }

  @Test("agents are created lazily, one per key", arguments: RuntimeKind.allCases)
  func keyedInstances(kind: RuntimeKind) async throws {
    try await withRuntimes(kind) { runtimes in
      let created = Recorder<String>()
      try await runtimes[1].register(AgentType("counter")) { id, _ in
        created.record(id.key)
        return CounterAgent(id: id)
      }
      #expect(created.all.isEmpty)
      let a = try AgentId(type: "counter", key: "a")
      let b = try AgentId(type: "counter", key: "b")
      #expect(try await runtimes[0].send(Ping(hops: 0), to: a, returning: Ping.self).hops == 1)
      #expect(try await runtimes[0].send(Ping(hops: 0), to: a, returning: Ping.self).hops == 2)
      #expect(try await runtimes[0].send(Ping(hops: 0), to: b, returning: Ping.self).hops == 1)
      #expect(created.all == ["a", "b"])
    }
  }

  @Test("a send to a type nobody registered fails at once with unknownAgentType", arguments: RuntimeKind.allCases)
  func unknownRecipient(kind: RuntimeKind) async throws {
    try await withRuntimes(kind) { runtimes in
      let started = ContinuousClock.now
      let error = await #expect(throws: AgentRuntimeError.self) {
        try await runtimes[0].send(ChatMessage(text: "x"), to: try AgentId(type: "nobody", key: "k"), timeout: .seconds(20))
      }
      #expect(error?.code == .unknownAgentType)
      #expect(error?.message.contains("'nobody'") == true)
      #expect(ContinuousClock.now - started < .seconds(5))
    }
  }

  @Test("a handler error reaches the caller with its text", arguments: RuntimeKind.allCases)
  func handlerError(kind: RuntimeKind) async throws {
    try await withRuntimes(kind) { runtimes in
      try await runtimes[1].register(AgentType("thrower")) { id, _ in ThrowingAgent(id: id) }
      let error = await #expect(throws: AgentRuntimeError.self) {
        try await runtimes[0].send(ChatMessage(text: "x"), to: try AgentId(type: "thrower", key: "k"), returning: ChatReply.self)
      }
      #expect(error?.code == .handlerFailed)
      #expect(error?.message == "boom: the handler failed on purpose")
      let unhandled = await #expect(throws: AgentRuntimeError.self) {
        try await runtimes[0].send(Ping(hops: 0), to: try AgentId(type: "thrower", key: "k"))
      }
      #expect(unhandled?.code == .unhandledMessage)
    }
  }

  @Test("a handler that sends to itself does not deadlock", arguments: RuntimeKind.allCases)
  func selfSend(kind: RuntimeKind) async throws {
    try await withRuntimes(kind) { runtimes in
      try await runtimes[1].register(AgentType("bouncer")) { id, runtime in
        BouncingAgent(id: id, runtime: runtime, limit: 5)
      }
      #expect(try await runtimes[0].send(Ping(hops: 0), to: try AgentId(type: "bouncer", key: "k"), returning: Ping.self).hops == 5)
    }
  }

  @Test("a call cycle across runtimes (A calls B calls A ...) does not deadlock", arguments: RuntimeKind.allCases)
  func cycle(kind: RuntimeKind) async throws {
    try await withRuntimes(kind) { runtimes in
      let a = try AgentId(type: "a", key: "k")
      let b = try AgentId(type: "b", key: "k")
      try await runtimes[0].register(a.type) { id, runtime in BouncingAgent(id: id, runtime: runtime, next: b, limit: 6) }
      try await runtimes[1].register(b.type) { id, runtime in BouncingAgent(id: id, runtime: runtime, next: a, limit: 6) }
      #expect(try await runtimes[0].send(Ping(hops: 0), to: a, returning: Ping.self).hops == 6)
      #expect(try await runtimes[1].send(Ping(hops: 1), to: a, returning: Ping.self).hops == 6)
    }
  }

  @Test("messages to one agent start in arrival order", arguments: RuntimeKind.allCases)
  func startOrder(kind: RuntimeKind) async throws {
    try await withRuntimes(kind) { runtimes in
      let log = Recorder<String>()
      try await runtimes[1].register(AgentType("order"), subscriptions: [.type("seq")]) { id, _ in
        OrderAgent(id: id, log: log)
      }
      let topic = try TopicId(type: "seq", source: "one")
      for hop in 0..<200 {
        try await runtimes[0].publish(Ping(hops: hop), to: topic)
      }
      #expect(try await log.waitFor(count: 200) == (0..<200).map { "one:\($0)" })
    }
  }

  @Test("a send times out at its deadline with a clear error", arguments: RuntimeKind.allCases)
  func deadline(kind: RuntimeKind) async throws {
    try await withRuntimes(kind) { runtimes in
      let started = Recorder<String>()
      try await runtimes[1].register(AgentType("silent")) { id, _ in SilentAgent(id: id, started: started) }
      let error = await #expect(throws: AgentRuntimeError.self) {
        try await runtimes[0].send(
          ChatMessage(text: "x"), to: try AgentId(type: "silent", key: "k"), returning: ChatReply.self,
          timeout: .milliseconds(300))
      }
      #expect(error?.code == .deadlineExceeded)
      #expect(error?.message == "no response from silent/k within 0.3 s")
    }
  }

  @Test("a cancelled caller stops waiting", arguments: RuntimeKind.allCases)
  func cancellation(kind: RuntimeKind) async throws {
    try await withRuntimes(kind) { runtimes in
      let started = Recorder<String>()
      try await runtimes[1].register(AgentType("silent")) { id, _ in SilentAgent(id: id, started: started) }
      let outcome = Recorder<AgentRuntimeError>()
      await withTaskGroup(of: Void.self) { group in
        group.addTask {
          do {
            _ = try await runtimes[0].send(ChatMessage(text: "x"), to: try AgentId(type: "silent", key: "k"), timeout: .seconds(30))
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

  @Test("publish reaches type, prefix and default subscribers on every runtime, keyed by the topic source", arguments: RuntimeKind.allCases)
  func publishRouting(kind: RuntimeKind) async throws {
    try await withRuntimes(kind) { runtimes in
      let log = Recorder<String>()
      try await runtimes[1].register(AgentType("typed"), subscriptions: [.type("news")]) { id, _ in EchoAgent(id: id, log: log) }
      try await runtimes[1].register(AgentType("prefixed"), subscriptions: [.typePrefix("ne")]) { id, _ in EchoAgent(id: id, log: log) }
      try await runtimes[0].register(AgentType("defaulted"), subscriptions: [.defaultTopic]) { id, _ in EchoAgent(id: id, log: log) }

      try await runtimes[0].publish(ChatMessage(text: "n1"), to: TopicId(type: "news", source: "s1"))
      try await runtimes[0].publish(ChatMessage(text: "n2"), to: TopicId(type: "nearby", source: "s2"))
      try await runtimes[1].publish(ChatMessage(text: "d"), to: .default(source: "s3"))
      #expect(Set(try await log.waitFor(count: 4)) == [
        "typed/s1 got n1 on news/s1 from nobody",
        "prefixed/s1 got n1 on news/s1 from nobody",
        "prefixed/s2 got n2 on nearby/s2 from nobody",
        "defaulted/s3 got d on default/s3 from nobody",
      ])
    }
  }

  @Test("the publisher does not receive its own publish; overlapping subscriptions deliver once", arguments: RuntimeKind.allCases)
  func publisherExcluded(kind: RuntimeKind) async throws {
    try await withRuntimes(kind) { runtimes in
      let log = Recorder<String>()
      let echo = AgentType("echo")
      try await runtimes[1].register(echo, subscriptions: [.defaultTopic, .typePrefix("def")]) { id, _ in
        EchoAgent(id: id, log: log)
      }
      let publisher = AgentId(type: echo, key: "room")
      try await runtimes[0].publish(ChatMessage(text: "mine"), to: .default(source: "room"), options: PublishOptions(sender: publisher))
      try await runtimes[0].publish(ChatMessage(text: "theirs"), to: .default(source: "room"))
      // Barrier: an RPC to the same agent starts after every message that arrived before it.
      _ = try await runtimes[0].send(ChatMessage(text: "barrier"), to: publisher, returning: ChatReply.self)
      #expect(log.all == ["echo/room got theirs on default/room from nobody"])
    }
  }

  @Test("protobuf messages travel both ways (RPC and publish)", arguments: RuntimeKind.allCases)
  func protobufPayloads(kind: RuntimeKind) async throws {
    try await withRuntimes(kind) { runtimes in
      let log = Recorder<String>()
      try await runtimes[1].register(AgentType("shout"), subscriptions: [.type("proto")]) { id, _ in ShoutingAgent(id: id, log: log) }
      let reply = try await runtimes[0].send(
        Google_Protobuf_StringValue.with { $0.value = "quiet" }, to: try AgentId(type: "shout", key: "k"),
        returning: Google_Protobuf_StringValue.self)
      #expect(reply.value == "QUIET")
      try await runtimes[0].publish(Google_Protobuf_StringValue.with { $0.value = "p" }, to: try TopicId(type: "proto", source: "k"))
      #expect(try await log.waitFor(count: 1) == ["shout/k got proto p on proto/k"])
    }
  }

  @Test("subscriptions added at run time route, removed ones stop; duplicates and unknown ids are errors", arguments: RuntimeKind.allCases)
  func addRemoveSubscriptions(kind: RuntimeKind) async throws {
    try await withRuntimes(kind) { runtimes in
      let log = Recorder<String>()
      let echo = AgentType("echo")
      try await runtimes[1].register(echo) { id, _ in EchoAgent(id: id, log: log) }
      try await runtimes[1].addSubscription(try Subscription(id: "sub-1", filter: .type("alerts"), agentType: echo))
      let duplicate = await #expect(throws: AgentRuntimeError.self) {
        try await runtimes[1].addSubscription(try Subscription(id: "sub-2", filter: .type("alerts"), agentType: echo))
      }
      #expect(duplicate?.code == .alreadyExists)
      try await runtimes[0].publish(ChatMessage(text: "a1"), to: TopicId(type: "alerts", source: "k"))
      _ = try await log.waitFor(count: 1)
      try await runtimes[1].removeSubscription(id: "sub-1")
      let missing = await #expect(throws: AgentRuntimeError.self) { try await runtimes[1].removeSubscription(id: "sub-1") }
      #expect(missing?.code == .notFound)
      try await runtimes[0].publish(ChatMessage(text: "a2"), to: TopicId(type: "alerts", source: "k"))
      _ = try await runtimes[0].send(ChatMessage(text: "barrier"), to: AgentId(type: echo, key: "k"), returning: ChatReply.self)
      #expect(log.all == ["echo/k got a1 on alerts/k from nobody"])
    }
  }

  @Test("registering a type twice on one runtime is an error and keeps the first", arguments: RuntimeKind.allCases)
  func duplicateRegistration(kind: RuntimeKind) async throws {
    try await withRuntimes(kind) { runtimes in
      let echo = AgentType("echo")
      try await runtimes[1].register(echo) { id, _ in EchoAgent(id: id, log: Recorder()) }
      let error = await #expect(throws: AgentRuntimeError.self) {
        try await runtimes[1].register(echo) { id, _ in ThrowingAgent(id: id) }
      }
      #expect(error?.code == .alreadyExists)
      _ = try await runtimes[0].send(ChatMessage(text: "x"), to: AgentId(type: echo, key: "k"), returning: ChatReply.self)
    }
  }

  @Test("metadata and state of a hosted agent", arguments: RuntimeKind.allCases)
  func stateAndMetadata(kind: RuntimeKind) async throws {
    try await withRuntimes(kind) { runtimes in
      let runtime = runtimes[1]
      try await runtime.register(AgentType("counter")) { id, _ in CounterAgent(id: id) }
      let a = try AgentId(type: "counter", key: "a")
      let b = try AgentId(type: "counter", key: "b")
      #expect(try await runtime.agentMetadata(a) == AgentMetadata(type: "counter", key: "a", description: "counts pings"))
      _ = try await runtimes[0].send(Ping(hops: 0), to: a, returning: Ping.self)
      _ = try await runtimes[0].send(Ping(hops: 0), to: a, returning: Ping.self)
      let saved = try await runtime.saveAgentState(a)
      #expect(saved == ["count": 2])
      try await runtime.loadAgentState(b, state: saved)
      #expect(try await runtimes[0].send(Ping(hops: 0), to: b, returning: Ping.self).hops == 3)
    }
  }
}
