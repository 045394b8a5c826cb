import AgentCore
import AgentTestSupport
import AgentWire
import GrpcHost
import GrpcWorker
import Synchronization
import Testing

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
