import AgentCore
import AgentStateSQLite
import AgentTestSupport
import Foundation
import Synchronization
import Testing

@Suite("Durable agent state (in process)", .timeLimit(.minutes(1)))
struct StatefulAgentTests {
  func withRuntime<R: Sendable>(
    _ store: any AgentStateStore, _ body: (InProcessRuntime) async throws -> R
  ) async throws -> R {
    var configuration = InProcessRuntime.Configuration(defaultRPCTimeout: .seconds(10))
    configuration.stateStore = store
    return try await withInProcessRuntime(configuration: configuration, logger: quietLogger) { runtime in
      try await runtime.register("counter") { id, _ in DurableCounter(id: id) }
      return try await body(runtime)
    }
  }

  @Test("state saved by one runtime is loaded by the next: the count carries on after a restart", arguments: StoreKind.available)
  func survivesRestart(kind: StoreKind) async throws {
    try await kind.withStore { first, reopen in
    try await withRuntime(first) { runtime in
      for expected in 1...3 {
        let value1 = try await runtime.send(Ping(hops: 0), to: "counter/a", returning: Ping.self).hops
        #expect(value1 == expected)
      }
    }
    let store = try await reopen()
    let value101 = try await store.load("counter/a")?.version
    #expect(value101 == 3)
    try await withRuntime(store) { runtime in
      let value2 = try await runtime.send(Ping(hops: 0), to: "counter/a", returning: Ping.self).hops
      #expect(value2 == 4)
      // Another key has its own state.
      let value3 = try await runtime.send(Ping(hops: 0), to: "counter/b", returning: Ping.self).hops
      #expect(value3 == 1)
    }
    }
  }

  @Test("a handler that throws does not save", arguments: StoreKind.available)
  func throwingHandlerDoesNotSave(kind: StoreKind) async throws {
    try await kind.withStore { store, _ in
    try await withRuntime(store) { runtime in
      _ = try await runtime.send(Ping(hops: 0), to: "counter/a", returning: Ping.self)
      await #expect(throws: AgentRuntimeError.self) { try await runtime.send(Ping(hops: -1), to: "counter/a") }
      let stored = try #require(try await store.load("counter/a"))
      #expect(stored.version == 1)
      #expect(String(decoding: stored.data, as: UTF8.self) == #"{"count":1}"#)
      // Its change was rolled back in the instance too: the next handler starts from the saved state.
      let next = try await runtime.send(Ping(hops: 0), to: "counter/a", returning: Ping.self).hops
      #expect(next == 2)
    }
    }
  }

  @Test("a stale writer is refused and told so; the newer state stays", arguments: StoreKind.available)
  func staleWriter(kind: StoreKind) async throws {
    try await kind.withStore { store, _ in
    try await withRuntime(store) { runtime in
      _ = try await runtime.send(Ping(hops: 0), to: "counter/a", returning: Ping.self)
      // Another instance of counter/a (on the worker it moved to) saves meanwhile.
      _ = try await store.save("counter/a", data: Data(#"{"count":41}"#.utf8), expectedVersion: 1)
      let error = await #expect(throws: AgentRuntimeError.self) {
        try await runtime.send(Ping(hops: 0), to: "counter/a", returning: Ping.self)
      }
      #expect(error?.code == .stateConflict)
      #expect(error?.message.contains("version 2 is stored and this instance last saw 1") == true)
      let newer = try await store.load("counter/a")
      #expect(newer.map { String(decoding: $0.data, as: UTF8.self) } == #"{"count":41}"#)
      // The stale instance was retired: the next message activates counter/a from the newer state.
      let next = try await runtime.send(Ping(hops: 0), to: "counter/a", returning: Ping.self).hops
      #expect(next == 42)
    }
    let stored = try await store.load("counter/a")
    #expect(stored?.version == 3)
    }
  }

  @Test("a store that goes away: the caller gets a clear error, the runtime keeps serving")
  func storeDown() async throws {
    let store = FlakyStore()
    try await withRuntime(store) { runtime in
      _ = try await runtime.send(Ping(hops: 0), to: "counter/a", returning: Ping.self)
      store.failSaves.store(true, ordering: .relaxed)
      let saveError = await #expect(throws: AgentRuntimeError.self) {
        try await runtime.send(Ping(hops: 0), to: "counter/a", returning: Ping.self)
      }
      #expect(saveError?.code == .stateStoreFailed)
      #expect(saveError?.message.contains("could not save the state of counter/a: connection refused") == true)
      store.failLoads.store(true, ordering: .relaxed)
      let loadError = await #expect(throws: AgentRuntimeError.self) {
        try await runtime.send(Ping(hops: 0), to: "counter/b", returning: Ping.self)
      }
      #expect(loadError?.code == .stateStoreFailed)
      #expect(loadError?.message.contains("could not load the state of counter/b") == true)
      // Back again: the instance that was running carries on from its own version.
      store.failSaves.store(false, ordering: .relaxed)
      store.failLoads.store(false, ordering: .relaxed)
      // The failed call's change was rolled back: counter/a counts from its saved state.
      let value4 = try await runtime.send(Ping(hops: 0), to: "counter/a", returning: Ping.self).hops
      #expect(value4 == 2)
      let value5 = try await runtime.send(Ping(hops: 0), to: "counter/b", returning: Ping.self).hops
      #expect(value5 == 1)
    }
  }

  @Test("saveAgentState and loadAgentState use the same representation: the state's JSON object")
  func saveAndLoadAgentState() async throws {
    try await withRuntime(InMemoryAgentStateStore()) { runtime in
      _ = try await runtime.send(Ping(hops: 0), to: "counter/a", returning: Ping.self)
      let value6 = try await runtime.saveAgentState("counter/a")
      #expect(value6 == ["count": .int(1)])
      try await runtime.loadAgentState("counter/a", state: ["count": .int(10)])
      let value7 = try await runtime.send(Ping(hops: 0), to: "counter/a", returning: Ping.self).hops
      #expect(value7 == 11)
    }
  }

  @Test("a store refuses a save from an old version, and a first save over an existing one", arguments: StoreKind.available)
  func storeVersions(kind: StoreKind) async throws {
    try await kind.withStore { store, _ in
    let value102 = try await store.save("t/k", data: Data("1".utf8), expectedVersion: 0)
    #expect(value102 == 1)
    let value103 = try await store.save("t/k", data: Data("2".utf8), expectedVersion: 1)
    #expect(value103 == 2)
    let error = await #expect(throws: AgentRuntimeError.self) { try await store.save("t/k", data: Data("x".utf8), expectedVersion: 1) }
    #expect(error?.code == .stateConflict)
    let first = await #expect(throws: AgentRuntimeError.self) { try await store.save("t/k", data: Data("x".utf8), expectedVersion: 0) }
    #expect(first?.message.contains("version 2 is stored and this instance last saw 0") == true)
    let value104 = try await store.load("t/k")
    #expect(value104 == StoredAgentState(data: Data("2".utf8), version: 2))
    let value105 = try await store.load("t/other")
    #expect(value105 == nil)
    }
  }

  @Test("an SQLite store that cannot be opened, or is closed, fails with a clear error")
  func sqliteFailures() async throws {
    let error = await #expect(throws: AgentRuntimeError.self) {
      try await SQLiteAgentStateStore.open(path: "/nonexistent-dir/state.sqlite")
    }
    #expect(error?.code == .stateStoreFailed)
    #expect(error?.message.contains("cannot open the SQLite state store at '/nonexistent-dir/state.sqlite'") == true)
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("agent-state-\(UUID().uuidString).sqlite").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    let store = try await SQLiteAgentStateStore.open(path: path)
    try await store.close()
    let closed = await #expect(throws: AgentRuntimeError.self) { try await store.load("t/k") }
    #expect(closed?.code == .stateStoreFailed)
  }
}
