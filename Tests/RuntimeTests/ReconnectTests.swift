import AgentCore
import AgentTestSupport
import AgentWire
import GrpcHost
import GrpcWorker
import InMemoryTracing
import Synchronization
import Testing
import Tracing

/// Reconnecting workers: a host that restarts loses nothing that was buffered, and nothing hangs.
@Suite("Worker: reconnect", .timeLimit(.minutes(1)))
struct ReconnectTests {
  static let fastReconnect = GrpcWorkerRuntime.ReconnectPolicy(initialBackoff: .milliseconds(20), maxBackoff: .milliseconds(200))

  func configuration(_ address: HostAddress) -> GrpcWorkerRuntime.Configuration {
    var configuration = GrpcWorkerRuntime.Configuration(
      host: address, defaultRPCTimeout: .seconds(10), shutdownGracePeriod: .seconds(1))
    configuration.reconnect = Self.fastReconnect
    return configuration
  }

  /// A loopback port nothing listens on (a host bound it, then stopped).
  func freePort() async throws -> Int {
    try await withAgentHost(logger: quietLogger) { host in try await host.listeningAddress().port }
  }

  func startHost(port: Int, in group: inout ThrowingTaskGroup<Void, any Error>) async throws -> AgentHost {
    let host = AgentHost(configuration: .init(address: HostAddress(host: "127.0.0.1", port: port)), logger: quietLogger)
    group.addTask { try await host.run() }
    _ = try await host.listeningAddress()
    return host
  }

  @Test("host restarted while a worker publishes: buffered publishes arrive exactly once, other workers resume")
  func hostRestart() async throws {
    let port = try await freePort()
    let address = HostAddress(host: "127.0.0.1", port: port)
    try await withThrowingTaskGroup(of: Void.self) { group in
      let firstHost = try await startHost(port: port, in: &group)
      let publisher = GrpcWorkerRuntime(configuration: configuration(address), serializers: testSerializers, logger: quietLogger)
      let other = GrpcWorkerRuntime(configuration: configuration(address), serializers: testSerializers, logger: quietLogger)
      let publisherEvents = record(publisher, in: &group)
      let otherEvents = record(other, in: &group)
      group.addTask { try await publisher.run() }
      group.addTask { try await other.run() }

      let sink = Recorder<String>()
      let remote = Recorder<String>()
      try await publisher.register(AgentType("sink"), subscriptions: [.type("tick")]) { id, _ in EchoAgent(id: id, log: sink) }
      try await other.register(AgentType("remote"), subscriptions: [.type("news")]) { id, _ in EchoAgent(id: id, log: remote) }
      let firstClientId = try await publisher.clientId()
      #expect(try await publisherEvents.waitFor(count: 1) == [.connected(clientId: firstClientId)])
      _ = try await otherEvents.waitFor(count: 1)

      // Connected: 50 publishes go straight through.
      for index in 0..<50 { try await publisher.publish(ChatMessage(text: "tick-\(index)"), to: TopicId(type: "tick", source: "s")) }
      _ = try await sink.waitFor(count: 50)

      // The host goes away; the workers notice.
      firstHost.beginGracefulShutdown()
      guard case .disconnected = try await publisherEvents.waitFor(count: 2)[1] else { throw Unexpected("no disconnect event") }
      guard case .disconnected = try await otherEvents.waitFor(count: 2)[1] else { throw Unexpected("no disconnect event") }
      #expect(!publisher.isConnected)

      // Disconnected: 50 more publishes are buffered, not lost and not refused.
      for index in 50..<100 { try await publisher.publish(ChatMessage(text: "tick-\(index)"), to: TopicId(type: "tick", source: "s")) }
      #expect(publisher.bufferedPublishCount == 50)

      // A new host on the same address: both workers reconnect under new client ids and register again.
      let secondHost = try await startHost(port: port, in: &group)
      guard case .connected(let newClientId) = try await publisherEvents.waitFor(count: 3)[2] else { throw Unexpected("no reconnect") }
      guard case .connected = try await otherEvents.waitFor(count: 3)[2] else { throw Unexpected("no reconnect") }
      #expect(newClientId != firstClientId)

      // Everything buffered arrives, once: the end marker is published after the buffer, on one stream.
      try await publisher.publish(ChatMessage(text: "end"), to: TopicId(type: "tick", source: "s"))
      let received = try await sink.waitFor(count: 101)
      #expect(received.count == 101, "duplicates: \(received.count - 101)")
      #expect(received.last == "sink/s got end on tick/s from nobody")
      #expect(Set(received.dropLast()) == Set((0..<100).map { "sink/s got tick-\($0) on tick/s from nobody" }))
      #expect(publisher.bufferedPublishCount == 0)

      // The other worker's subscription was registered again: it gets publishes and RPCs work both ways.
      try await publisher.publish(ChatMessage(text: "after"), to: TopicId(type: "news", source: "n"))
      #expect(try await remote.waitFor(count: 1) == ["remote/n got after on news/n from nobody"])
      let reply = try await other.send(ChatMessage(text: "hi"), to: try AgentId(type: "sink", key: "k"), returning: ChatReply.self)
      #expect(reply.text.hasPrefix("k heard hi"))

      publisher.shutdown()
      other.shutdown()
      secondHost.beginGracefulShutdown()
      try await group.waitForAll()
    }
  }

  @Test("while disconnected: publishes past the bound are refused; a send waits up to its deadline, then fails clearly")
  func disconnectedBehaviour() async throws {
    let port = try await freePort()
    var configuration = configuration(HostAddress(host: "127.0.0.1", port: port))
    configuration.maxBufferedPublishes = 3
    let worker = GrpcWorkerRuntime(configuration: configuration, serializers: testSerializers, logger: quietLogger)
    try await withThrowingTaskGroup(of: Void.self) { group in
      let events = record(worker, in: &group)
      group.addTask { try await worker.run() }  // no host yet: it keeps trying

      for index in 0..<3 { try await worker.publish(ChatMessage(text: "\(index)"), to: TopicId(type: "t", source: "s")) }
      let refused = await #expect(throws: AgentRuntimeError.self) {
        try await worker.publish(ChatMessage(text: "one too many"), to: TopicId(type: "t", source: "s"))
      }
      #expect(refused?.code == .resourceExhausted)
      #expect(refused?.message.contains("maxBufferedPublishes") == true, "\(String(describing: refused))")

      let started = ContinuousClock.now
      let timedOut = await #expect(throws: AgentRuntimeError.self) {
        _ = try await worker.send(Ping(hops: 0), to: try AgentId(type: "counter", key: "k"), options: SendOptions(timeout: .milliseconds(300)))
      }
      let waited = ContinuousClock.now - started
      #expect(timedOut?.code == .unavailable)
      #expect(timedOut?.message.contains("not connected to the host") == true, "\(String(describing: timedOut))")
      #expect(waited >= .milliseconds(300) && waited < .seconds(5), "waited \(waited)")

      // A send made while disconnected succeeds when the host comes up within its deadline.
      let missing = try AgentId(type: "missing", key: "k")
      async let answer = outcome { try await worker.send(Ping(hops: 0), to: missing, options: SendOptions(timeout: .seconds(10))) }
      let host = try await startHost(port: port, in: &group)
      guard case .connected = try await events.waitFor(count: 1)[0] else { throw Unexpected("no connect") }
      // The host answers at once that nobody serves the type: the request went out after connecting.
      let error = await answer
      #expect(error?.code == .unknownAgentType, "\(String(describing: error))")

      worker.shutdown()
      host.beginGracefulShutdown()
      try await group.waitForAll()
    }
  }

  @Test("a send in flight when the host goes away gets an error at once, not at its deadline")
  func inFlightSendFails() async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
      let host = try await startHost(port: 0, in: &group)
      let address = try await host.listeningAddress()
      let caller = GrpcWorkerRuntime(configuration: configuration(address), serializers: testSerializers, logger: quietLogger)
      let callee = GrpcWorkerRuntime(configuration: configuration(address), serializers: testSerializers, logger: quietLogger)
      group.addTask { try await caller.run() }
      group.addTask { try await callee.run() }
      let started = Recorder<String>()
      try await callee.register(AgentType("silent")) { id, _ in SilentAgent(id: id, started: started) }
      _ = try await caller.clientId()
      let sentAt = ContinuousClock.now
      let silent = try AgentId(type: "silent", key: "k")
      async let answer = outcome { try await caller.send(ChatMessage(text: "x"), to: silent, options: SendOptions(timeout: .seconds(30))) }
      _ = try await started.waitFor(count: 1)
      host.beginGracefulShutdown()
      let error = await answer
      #expect(error?.code == .unavailable, "\(String(describing: error))")
      #expect(ContinuousClock.now - sentAt < .seconds(5))
      caller.shutdown()
      callee.shutdown()
      try await group.waitForAll()
    }
  }

  @Test("reconnect off: losing the host ends run() with unavailable; maxAttempts gives up")
  func noReconnect() async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
      let host = try await startHost(port: 0, in: &group)
      var configuration = configuration(try await host.listeningAddress())
      configuration.reconnect = nil
      let worker = GrpcWorkerRuntime(configuration: configuration, serializers: testSerializers, logger: quietLogger)
      _ = try await withThrowingTaskGroup(of: Void.self) { workerGroup in
        workerGroup.addTask { try await worker.run() }
        _ = try await worker.clientId()
        host.beginGracefulShutdown()
        let error = await #expect(throws: AgentRuntimeError.self) { try await workerGroup.next() }
        #expect(error?.code == .unavailable, "\(String(describing: error))")
      }
      try await group.waitForAll()
    }

    var giveUp = configuration(HostAddress(host: "127.0.0.1", port: try await freePort()))
    giveUp.reconnect = .init(initialBackoff: .milliseconds(10), maxBackoff: .milliseconds(20), maxAttempts: 3)
    let worker = GrpcWorkerRuntime(configuration: giveUp, serializers: testSerializers, logger: quietLogger)
    let error = await #expect(throws: AgentRuntimeError.self) { try await worker.run() }
    #expect(error?.message.contains("gave up reconnecting") == true, "\(String(describing: error))")
  }

  @Test("backoff grows, stays bounded, and is jittered")
  func backoff() {
    let policy = GrpcWorkerRuntime.ReconnectPolicy(
      initialBackoff: .milliseconds(100), maxBackoff: .seconds(2), multiplier: 2, jitter: 0.2)
    var generator = SystemRandomNumberGenerator()
    let first = (0..<200).map { _ in policy.delay(afterFailures: 1, using: &generator) }
    #expect(first.allSatisfy { $0 >= .milliseconds(80) && $0 <= .milliseconds(120) })
    #expect(Set(first).count > 10, "jitter spreads the waits")
    let third = policy.delay(afterFailures: 3, using: &generator)
    #expect(third >= .milliseconds(320) && third <= .milliseconds(480))
    let late = (0..<50).map { _ in policy.delay(afterFailures: 40, using: &generator) }
    #expect(late.allSatisfy { $0 >= .milliseconds(1600) && $0 <= .milliseconds(2400) })
  }

  @Test("failover: a worker given several hosts moves on when its host goes, registers there and delivers what it buffered, once")
  func failover() async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
      // Each port found while the hosts before it listen: three distinct ports.
      let portA = try await freePort()
      let hostA = try await startHost(port: portA, in: &group)
      let portB = try await freePort()
      let hostB = try await startHost(port: portB, in: &group)
      let portC = try await freePort()
      let (a, b) = (HostAddress(host: "127.0.0.1", port: portA), HostAddress(host: "127.0.0.1", port: portB))
      let listener = GrpcWorkerRuntime(configuration: configuration(b), serializers: testSerializers, logger: quietLogger)
      group.addTask { try await listener.run() }
      let heard = Recorder<String>()
      try await listener.register(AgentType("listener"), subscriptions: [.type("tick")]) { id, _ in EchoAgent(id: id, log: heard) }
      try await listener.register(AgentType("echo")) { id, _ in EchoAgent(id: id, log: Recorder()) }

      var moving = configuration(a)
      moving.fallbackHosts = [b]
      let mover = GrpcWorkerRuntime(configuration: moving, serializers: testSerializers, logger: quietLogger)
      let events = record(mover, in: &group)
      group.addTask { try await mover.run() }
      try await mover.register(AgentType("mover")) { id, _ in EchoAgent(id: id, log: Recorder()) }
      _ = try await events.waitFor(count: 1)

      // A goes: the mover fails over to B at once; what it publishes once it has noticed is
      // buffered (or goes straight to B), and reaches B's listener once.
      hostA.beginGracefulShutdown()
      guard case .disconnected = try await events.waitFor(count: 2)[1] else { throw Unexpected("no disconnect") }
      for index in 0..<20 { try await mover.publish(ChatMessage(text: "tick-\(index)"), to: TopicId(type: "tick", source: "s")) }
      guard case .connected = try await events.waitFor(count: 3)[2] else { throw Unexpected("no failover") }
      let received = try await heard.waitFor(count: 20)
      #expect(received.count == 20 && Set(received).count == 20, "each publish once: \(received)")
      // Registered on B: calls work both ways there.
      let reply = try await mover.send(ChatMessage(text: "hi"), to: try AgentId(type: "echo", key: "k"), returning: ChatReply.self)
      #expect(reply.text.hasPrefix("k heard hi"))
      let back = try await listener.send(ChatMessage(text: "back"), to: try AgentId(type: "mover", key: "k"), returning: ChatReply.self)
      #expect(back.text.hasPrefix("k heard back"))

      // A worker whose first host is not there starts on the next one.
      var starting = configuration(HostAddress(host: "127.0.0.1", port: portC))
      starting.fallbackHosts = [b]
      let late = GrpcWorkerRuntime(configuration: starting, serializers: testSerializers, logger: quietLogger)
      group.addTask { try await late.run() }
      let lateReply = try await late.send(ChatMessage(text: "late"), to: try AgentId(type: "echo", key: "k"), returning: ChatReply.self)
      #expect(lateReply.text.hasPrefix("k heard late"))

      for worker in [listener, mover, late] { worker.shutdown() }
      hostB.beginGracefulShutdown()
      try await group.waitForAll()
    }
  }

  @Test("traced while disconnected: a call's span counts its waits for the connection, a publish's says it was buffered")
  func tracedWhileDisconnected() async throws {
    let tracer = InMemoryTracer()
    let port = try await freePort()
    try await withTracer(tracer) {
      try await withThrowingTaskGroup(of: Void.self) { group in
        let firstHost = try await startHost(port: port, in: &group)
        let worker = GrpcWorkerRuntime(
          configuration: configuration(HostAddress(host: "127.0.0.1", port: port)), serializers: testSerializers, logger: quietLogger)
        let events = record(worker, in: &group)
        group.addTask { try await worker.run() }
        let log = Recorder<String>()
        try await worker.register(AgentType("echo"), subscriptions: [.type("tick")]) { id, _ in EchoAgent(id: id, log: log) }
        _ = try await events.waitFor(count: 1)
        firstHost.beginGracefulShutdown()
        _ = try await events.waitFor(count: 2)
        // No host now: the publish is buffered, the call waits for the connection.
        try await worker.publish(ChatMessage(text: "early"), to: TopicId(type: "tick", source: "s"))
        #expect(worker.bufferedPublishCount == 1)
        async let reply = worker.send(ChatMessage(text: "hi"), to: try AgentId(type: "echo", key: "k"), returning: ChatReply.self)
        let host = try await startHost(port: port, in: &group)
        #expect(try await reply.text.hasPrefix("k heard hi"))
        #expect(try await log.waitFor(count: 1) == ["echo/s got early on tick/s from nobody"])
        worker.shutdown()
        host.beginGracefulShutdown()
        try await group.waitForAll()
      }
    }
    let send = try #require(tracer.finishedSpans.first { $0.operationName == "send echo" })
    #expect((send.attributes["agents.retries"]?.toSpanAttribute()).map { $0 != .int64(0) } == true)
    let publish = try #require(tracer.finishedSpans.first { $0.operationName == "publish tick" })
    #expect(publish.events.map(\.name) == ["buffered until the worker reconnects"])
  }

  /// The error `operation` throws (nil when it does not).
  private func outcome(_ operation: @Sendable () async throws -> (any Sendable)?) async -> AgentRuntimeError? {
    do {
      _ = try await operation()
      Issue.record("expected an error")
      return nil
    } catch {
      return error as? AgentRuntimeError
    }
  }

  /// Records a worker's connection events until it stops.
  private func record(
    _ worker: GrpcWorkerRuntime, in group: inout ThrowingTaskGroup<Void, any Error>
  ) -> Recorder<GrpcWorkerRuntime.ConnectionEvent> {
    let log = Recorder<GrpcWorkerRuntime.ConnectionEvent>()
    let events = worker.connectionEvents()
    group.addTask { for await event in events { log.record(event) } }
    return log
  }
}

struct Unexpected: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}
