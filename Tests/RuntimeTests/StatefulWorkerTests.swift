import AgentCore
import AgentRuntimeTesting
import AgentTestSupport
import Foundation
import Synchronization
import GrpcHost
import GrpcWorker
import Testing

/// Durable state over gRPC: workers keep their stateful agents' state in the host's store.
@Suite("Durable agent state over gRPC (host-served store)", .timeLimit(.minutes(1)))
struct StatefulWorkerTests {
  let pings = SerializationRegistry(json: Ping.self)

  func count(_ caller: GrpcWorkerRuntime, _ id: AgentId, hops: Int = 0) async throws -> Int {
    try await caller.send(Ping(hops: hops), to: id, returning: Ping.self).hops
  }

  @Test("an instance moved to another worker continues from its last saved state", arguments: StoreKind.available)
  func stateFollowsTheInstance(kind: StoreKind) async throws {
    try await kind.withStore { store, _ in
      var configuration = AgentHost.Configuration(rpcTimeout: .seconds(10))
      configuration.stateStore = store
      try await withTestHost(configuration: configuration, logger: quietLogger) { test in
        try await test.withWorker(serializers: pings) { caller in
          try await test.withWorker { first in
            try await first.register("counter") { id, _ in DurableCounter(id: id) }
            try await test.waitUntil { $0.agentTypes["counter"] == 1 }
            for expected in 1...3 {
              let value = try await count(caller, "counter/a")
              #expect(value == expected)
            }
          }
          try await test.waitUntil { $0.agentTypes["counter"] == nil }
          try await test.withWorker { second in
            try await second.register("counter") { id, _ in DurableCounter(id: id) }
            try await test.waitUntil { $0.agentTypes["counter"] == 1 }
            let value = try await count(caller, "counter/a")
            #expect(value == 4)
            // A handler that throws saves nothing, and its change is rolled back.
            await #expect(throws: AgentRuntimeError.self) { try await count(caller, "counter/a", hops: -1) }
            let next = try await count(caller, "counter/a")
            #expect(next == 5)
          }
        }
        let stored = try await store.load("counter/a")
        #expect(stored?.version == 5)
      }
    }
  }

  @Test("the host's state limit reaches the caller as resourceExhausted; nothing is saved")
  func hostLimit() async throws {
    var configuration = AgentHost.Configuration(rpcTimeout: .seconds(10))
    configuration.maxStateSize = 4096
    let store = InMemoryAgentStateStore()
    configuration.stateStore = store
    try await withTestHost(configuration: configuration, logger: quietLogger) { test in
      try await test.withWorker(serializers: pings) { worker in
        try await worker.register("counter") { id, _ in DurableCounter(id: id) }
        try await test.waitUntil { $0.agentTypes["counter"] == 1 }
        _ = try await count(worker, "counter/a")
        let error = await #expect(throws: AgentRuntimeError.self) { try await count(worker, "counter/a", hops: -2) }
        #expect(error?.code == .resourceExhausted)
        #expect(error?.message.contains("over the limit of 4096 bytes (maxStateSize); it was not saved") == true)
        let value = try await count(worker, "counter/a")
        #expect(value == 2)
      }
      let stored = try await store.load("counter/a")
      #expect(stored?.version == 2)
    }
  }

  @Test("a host that keeps no state: a stateful agent fails to activate with a clear error; stateless agents are unaffected")
  func hostWithoutStore() async throws {
    var configuration = AgentHost.Configuration(rpcTimeout: .seconds(10))
    configuration.stateStore = nil
    try await withTestHost(configuration: configuration, logger: quietLogger) { test in
      try await test.withWorker(serializers: pings) { worker in
        try await worker.register("counter") { id, _ in DurableCounter(id: id) }
        try await worker.register("echo") { id, _ in EchoAgent(id: id, log: Recorder()) }
        try await test.waitUntil { $0.agentTypes["counter"] == 1 && $0.agentTypes["echo"] == 1 }
        let error = await #expect(throws: AgentRuntimeError.self) { try await count(worker, "counter/a") }
        #expect(error?.code == .unavailable)
        #expect(error?.message.contains("could not create agent counter/a") == true)
        #expect(error?.message.contains("keeps no agent state (it was started without a state store)") == true)
        let reply = try await worker.send(ChatMessage(text: "hi"), to: "echo/x", returning: ChatReply.self)
        #expect(reply.text.hasPrefix("x heard hi"))
      }
    }
  }

  @Test("a worker with stateStorage .disabled keeps state in its instances only")
  func disabled() async throws {
    let store = InMemoryAgentStateStore()
    var configuration = AgentHost.Configuration(rpcTimeout: .seconds(10))
    configuration.stateStore = store
    try await withTestHost(configuration: configuration, logger: quietLogger) { test in
      var workerConfiguration = test.workerConfiguration()
      workerConfiguration.stateStorage = .disabled
      try await test.withWorker(configuration: workerConfiguration, serializers: pings) { worker in
        try await worker.register("counter") { id, _ in DurableCounter(id: id) }
        try await test.waitUntil { $0.agentTypes["counter"] == 1 }
        let first = try await count(worker, "counter/a")
        let second = try await count(worker, "counter/a")
        #expect(first == 1 && second == 2)
      }
      let stored = try await store.load("counter/a")
      #expect(stored == nil)
    }
  }

  /// A host keeping state in `store`, one worker serving `counter` and `echo`.
  func withCounterWorker(
    _ store: any AgentStateStore, stateTimeout: Duration = .seconds(5),
    _ body: @Sendable (GrpcWorkerRuntime) async throws -> Void
  ) async throws {
    var configuration = AgentHost.Configuration(rpcTimeout: .seconds(10))
    configuration.stateStore = store
    configuration.stateStoreTimeout = stateTimeout
    try await withTestHost(configuration: configuration, logger: quietLogger) { test in
      try await test.withWorker(serializers: pings) { worker in
        try await worker.register("counter") { id, _ in DurableCounter(id: id) }
        try await worker.register("echo") { id, _ in EchoAgent(id: id, log: Recorder()) }
        try await test.waitUntil { $0.agentTypes["counter"] == 1 && $0.agentTypes["echo"] == 1 }
        try await body(worker)
      }
    }
  }

  @Test("a stale instance on a worker is refused (stateConflict), retired, and reactivated from the newer state")
  func staleWriter() async throws {
    let store = InMemoryAgentStateStore()
    try await withCounterWorker(store) { worker in
      _ = try await count(worker, "counter/a")
      // Another instance of counter/a saved meanwhile (as one on another worker would).
      _ = try await store.save("counter/a", data: Data(#"{"count":41}"#.utf8), expectedVersion: 1)
      let error = await #expect(throws: AgentRuntimeError.self) { try await count(worker, "counter/a") }
      #expect(error?.code == .stateConflict)
      #expect(error?.message.contains("version 2 is stored and this instance last saw 1") == true)
      let next = try await count(worker, "counter/a")
      #expect(next == 42)
    }
  }

  @Test("a saved state that no longer decodes: activation fails with an error naming the agent, over gRPC too")
  func undecodable() async throws {
    let store = InMemoryAgentStateStore()
    _ = try await store.save("counter/a", data: Data(#"{"count":"many"}"#.utf8), expectedVersion: 0)
    try await withCounterWorker(store) { worker in
      let error = await #expect(throws: AgentRuntimeError.self) { try await count(worker, "counter/a") }
      #expect(error?.code == .stateStoreFailed)
      #expect(error?.message.contains("the saved state of counter/a (version 1, 16 bytes) does not decode") == true)
      let other = try await count(worker, "counter/b")
      #expect(other == 1)
    }
    let kept = try await store.load("counter/a")
    #expect(kept?.version == 1)
  }

  @Test("the host's store does not answer: stateful handlers fail with unavailable in bounded time; stateless agents carry on")
  func storeDown() async throws {
    let store = FlakyStore()
    try await withCounterWorker(store, stateTimeout: .milliseconds(300)) { worker in
      _ = try await count(worker, "counter/a")
      store.hang.store(true, ordering: .relaxed)
      let started = ContinuousClock.now
      let error = await #expect(throws: AgentRuntimeError.self) { try await count(worker, "counter/a") }
      #expect(error?.code == .unavailable)
      #expect(error?.message.contains("the state store did not answer within 0.3 s") == true)
      #expect(ContinuousClock.now - started < .seconds(5))
      let reply = try await worker.send(ChatMessage(text: "hi"), to: "echo/x", returning: ChatReply.self)
      #expect(reply.text.hasPrefix("x heard hi"))
      store.hang.store(false, ordering: .relaxed)
      // The failed call's change was rolled back: the count carries on from the saved 1.
      let value = try await count(worker, "counter/a")
      #expect(value == 2)
    }
  }
}
