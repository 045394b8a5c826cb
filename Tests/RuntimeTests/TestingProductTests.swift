import AgentCore
import AgentRuntimeTesting
import AgentTestSupport
import GrpcHost
import GrpcWorker
import SwiftProtobuf
import Testing

/// A message with no serializer anywhere: not `Codable`, not protobuf.
struct Opaque: Sendable {
  var value: Int
}

/// Answers `Opaque`, which cannot cross the wire.
actor OpaqueAgent: RoutedAgent {
  nonisolated let id: AgentId
  init(id: AgentId) { self.id = id }

  static func registerHandlers(_ router: inout MessageRouter<OpaqueAgent>) {
    router.onRPC(Opaque.self) { _, message, _ in Opaque(value: message.value + 1) }
  }
}

/// Counts `Ping`s published to `pings`, a subscription it declares itself.
actor PingCounter: RoutedAgent {
  nonisolated let id: AgentId
  var seen = 0
  init(id: AgentId) { self.id = id }

  static let subscriptions: [TopicFilter] = [.type("pings")]

  static func registerHandlers(_ router: inout MessageRouter<PingCounter>) {
    router.onEvent(Ping.self) { agent, _, _ in agent.seen += 1 }
    router.onRPC(ChatMessage.self) { agent, _, _ in ChatReply(text: "seen \(agent.seen)") }
  }
}

@Suite("Testing product: in-process host, recorder, serializing runtime", .timeLimit(.minutes(1)))
struct TestingProductTests {
  @Test("a host and two workers over the in-process transport: RPC across workers, with serializers derived from the handlers")
  func hostAndWorkers() async throws {
    try await withTestHost(logger: quietLogger) { test in
      try await test.withWorker { server in
        // No SerializationRegistry anywhere: ChatMessage and ChatReply come from EchoAgent's handlers.
        try await server.register("echo") { id, _ in EchoAgent(id: id, log: Recorder()) }
        #expect(server.serializers.canSerialize(ChatMessage.self))
        #expect(server.serializers.canSerialize(ChatReply.self))
        try await test.waitUntil { $0.agentTypes["echo"] == 1 }
        try await test.withWorker(serializers: SerializationRegistry(json: ChatMessage.self, ChatReply.self)) { caller in
          let reply = try await caller.send(ChatMessage(text: "hi"), to: "echo/k1", returning: ChatReply.self)
          #expect(reply.text.hasPrefix("k1 heard hi"))
          #expect(test.host.status.connectedWorkers == 2)
          #expect(test.host.status.placedAgents == 1)
        }
        try await test.waitUntil { $0.connectedWorkers == 1 }
      }
    }
  }

  @Test("a recorder collects what is published to its subscriptions, with awaitable expectations and the context")
  func recorder() async throws {
    try await withTestHost(logger: quietLogger) { test in
      let pings = MessageRecorder<Ping>()
      try await test.withWorker { listener in
        try await pings.register(on: listener, as: "ping-log", subscriptions: [.type("pings")])
        try await test.withWorker(serializers: SerializationRegistry(json: Ping.self)) { publisher in
          for hops in 1...3 { try await publisher.publish(Ping(hops: hops), to: "pings/src") }
          let first = try await pings.next()
          #expect(first.message == Ping(hops: 1))
          #expect(first.context.topic == "pings/src")
          #expect(first.context.recipient == "ping-log/src")
          let all = try await pings.waitForCount(3)
          #expect(all.map(\.message.hops) == [1, 2, 3])
          #expect(try await pings.next().message.hops == 2)
        }
      }
      let error = await #expect(throws: AgentRuntimeError.self) { try await pings.waitForCount(4, within: .milliseconds(50)) }
      #expect(error?.code == .deadlineExceeded)
      #expect(error?.message.contains("3 of 4 expected Ping messages") == true)
    }
  }

  @Test("waitUntil on the host's status fails with the status it saw when the condition never holds")
  func waitUntilTimesOut() async throws {
    try await withTestHost(logger: quietLogger) { test in
      let error = await #expect(throws: AgentRuntimeError.self) {
        try await test.waitUntil(within: .milliseconds(50)) { $0.connectedWorkers == 3 }
      }
      #expect(error?.code == .deadlineExceeded)
      #expect(error?.message.contains("connectedWorkers: 0") == true)
    }
  }

  @Test("a subscription declared on the agent type is added at registration, in process and over the host")
  func declaredSubscriptions() async throws {
    try await withTestRuntime(logger: quietLogger) { runtime in
      try await runtime.register("counter") { id, _ in PingCounter(id: id) }
      #expect(runtime.subscriptions.map(\.filter) == [.type("pings")])
      try await runtime.publish(Ping(hops: 1), to: "pings/a")
      let reply = try await runtime.send(ChatMessage(text: "?"), to: "counter/a", returning: ChatReply.self)
      #expect(reply.text == "seen 1")
      // The test helper reaches the instance itself.
      let counter = try await runtime.agent("counter/a", as: PingCounter.self)
      #expect(await counter.seen == 1)
      let wrongType = await #expect(throws: AgentRuntimeError.self) { try await runtime.agent("counter/a", as: EchoAgent.self) }
      #expect(wrongType?.code == .invalidArgument)
    }
    try await withTestHost(logger: quietLogger) { test in
      try await test.withWorker { worker in
        try await worker.register("counter") { id, _ in PingCounter(id: id) }
        try await test.waitUntil { $0.subscriptions == 2 }  // pings, and the type's direct messages
        try await worker.publish(Ping(hops: 1), to: "pings/b")
        let reply = try await worker.send(ChatMessage(text: "?"), to: "counter/b", returning: ChatReply.self)
        #expect(reply.text == "seen 1")
        #expect(await (try worker.agent("counter/b", as: PingCounter.self)).seen == 1)
      }
    }
  }

  @Test("the serializing in-process runtime refuses a message that cannot cross the wire; the plain one does not")
  func roundTrip() async throws {
    try await withTestRuntime(logger: quietLogger) { runtime in
      try await runtime.register("opaque") { id, _ in OpaqueAgent(id: id) }
      let error = await #expect(throws: AgentRuntimeError.self) {
        try await runtime.send(Opaque(value: 1), to: "opaque/x", returning: Opaque.self)
      }
      #expect(error?.code == .serializationFailed)
      #expect(error?.message.contains("no serializer registered for Opaque") == true)
      // Derived serializers cover what the handlers take and return.
      try await runtime.register("echo") { id, _ in EchoAgent(id: id, log: Recorder()) }
      let reply = try await runtime.send(ChatMessage(text: "hi"), to: "echo/1", returning: ChatReply.self)
      #expect(reply.text.hasPrefix("1 heard hi"))
    }
    try await withInProcessRuntime(logger: quietLogger) { runtime in
      try await runtime.register("opaque") { id, _ in OpaqueAgent(id: id) }
      let reply = try await runtime.send(Opaque(value: 1), to: "opaque/x", returning: Opaque.self)
      #expect(reply.value == 2)
    }
  }

  @Test("a host's status updates: the current status first, then each change")
  func statusUpdates() async throws {
    try await withTestHost(logger: quietLogger) { test in
      var updates = test.host.statusUpdates().makeAsyncIterator()
      let first = try await updates.next()
      #expect(first?.connectedWorkers == 0)
      try await test.withWorker { worker in
        try await worker.register("echo") { id, _ in EchoAgent(id: id, log: Recorder()) }
        try await test.waitUntil { $0.agentTypes == ["echo": 1] }
      }
    }
  }
}

@Suite("Worker configuration from the environment")
struct WorkerEnvironmentTests {
  @Test("RUNTIME_HOST_* and RUNTIME_WORKER_* set the address, token, TLS and log level")
  func environment() throws {
    let configuration = try GrpcWorkerRuntime.Configuration.fromEnvironment([
      "RUNTIME_HOST_ADDRESS": "[::1]:7000", "RUNTIME_HOST_AUTH_TOKEN": "s3cret", "RUNTIME_HOST_TLS_CA": "/ca.pem",
      "RUNTIME_WORKER_TLS_CERT": "/w.pem", "RUNTIME_WORKER_TLS_KEY": "/w.key", "RUNTIME_WORKER_LOG_LEVEL": "WARNING",
    ])
    #expect(configuration.host == HostAddress(host: "::1", port: 7000))
    #expect(configuration.authToken == "s3cret")
    #expect(configuration.tls == .init(trustRootsPath: "/ca.pem", certificateChainPath: "/w.pem", privateKeyPath: "/w.key"))
    #expect(configuration.logLevel == .warning)

    let defaults = try GrpcWorkerRuntime.Configuration.fromEnvironment(defaultHost: "localhost:50051", [:])
    #expect(defaults.host == HostAddress(host: "localhost", port: 50051))
    #expect(defaults.authToken == nil && defaults.tls == nil && defaults.logLevel == .info)
    #expect(try GrpcWorkerRuntime.Configuration.fromEnvironment(["RUNTIME_HOST_TLS": "1"]).tls == .init())
  }

  @Test("a malformed variable is named in the error")
  func malformed() {
    for (environment, named) in [
      (["RUNTIME_HOST_ADDRESS": "no-port"], "RUNTIME_HOST_ADDRESS"),
      (["RUNTIME_WORKER_TLS_CERT": "/w.pem"], "RUNTIME_WORKER_TLS_KEY"),
      (["RUNTIME_WORKER_LOG_LEVEL": "loud"], "RUNTIME_WORKER_LOG_LEVEL"),
    ] {
      let error = #expect(throws: AgentRuntimeError.self) { try GrpcWorkerRuntime.Configuration.fromEnvironment(environment) }
      #expect(error?.code == .invalidArgument)
      #expect(error?.message.contains(named) == true, "\(error?.message ?? "")")
    }
  }
}
