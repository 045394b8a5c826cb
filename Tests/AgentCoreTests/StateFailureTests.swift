import AgentCore
import AgentStatePostgres
import AgentStateSQLite
import AgentTestSupport
import Foundation
import Logging
import PostgresNIO
import SQLiteNIO
import Synchronization
import Testing

/// Limits and bad input for durable state: oversized states, states that no longer decode,
/// corrupt rows, stores that are down or hang, and a PostgreSQL server that drops connections.
@Suite("Durable agent state: limits and failures", .timeLimit(.minutes(1)))
struct StateFailureTests {
  func withRuntime<R: Sendable>(
    _ store: any AgentStateStore,
    configure: (inout InProcessRuntime.Configuration) -> Void = { _ in },
    _ body: (InProcessRuntime) async throws -> R
  ) async throws -> R {
    var configuration = InProcessRuntime.Configuration(defaultRPCTimeout: .seconds(10))
    configuration.stateStore = store
    configure(&configuration)
    return try await withInProcessRuntime(configuration: configuration, logger: quietLogger) { runtime in
      try await runtime.register("counter") { id, _ in DurableCounter(id: id) }
      try await runtime.register("echo") { id, _ in EchoAgent(id: id, log: Recorder()) }
      return try await body(runtime)
    }
  }

  @Test("a state over the size limit is refused with a clear error and not saved", arguments: StoreKind.available)
  func oversizedState(kind: StoreKind) async throws {
    try await kind.withStore { store, _ in
      try await withRuntime(store, configure: { $0.maxStateSize = 4096 }) { runtime in
        _ = try await runtime.send(Ping(hops: 0), to: "counter/a", returning: Ping.self)
        let error = await #expect(throws: AgentRuntimeError.self) {
          try await runtime.send(Ping(hops: -2), to: "counter/a", returning: Ping.self)
        }
        #expect(error?.code == .resourceExhausted)
        #expect(error?.message.contains("the state of counter/a is 100") == true)
        #expect(error?.message.contains("over the limit of 4096 bytes (maxStateSize); it was not saved") == true)
      }
      let stored = try await store.load("counter/a")
      #expect(stored?.version == 1)
    }
  }

  @Test("a saved state that no longer decodes fails activation with an error naming the agent; it is never reset", arguments: StoreKind.available)
  func undecodableState(kind: StoreKind) async throws {
    try await kind.withStore { store, _ in
      let garbage = Data(#"{"count":"many"}"#.utf8)
      _ = try await store.save("counter/a", data: garbage, expectedVersion: 0)
      try await withRuntime(store) { runtime in
        let error = await #expect(throws: AgentRuntimeError.self) {
          try await runtime.send(Ping(hops: 0), to: "counter/a", returning: Ping.self)
        }
        #expect(error?.code == .stateStoreFailed)
        #expect(error?.message.contains("could not create agent counter/a") == true)
        #expect(error?.message.contains("the saved state of counter/a (version 1, 16 bytes) does not decode into DurableCounter.State") == true)
        // Other instances and agents carry on.
        let other = try await runtime.send(Ping(hops: 0), to: "counter/b", returning: Ping.self).hops
        #expect(other == 1)
        // Once the state is repaired, the next message activates the instance from it.
        _ = try await store.save("counter/a", data: Data(#"{"count":7}"#.utf8), expectedVersion: 1)
        let repaired = try await runtime.send(Ping(hops: 0), to: "counter/a", returning: Ping.self).hops
        #expect(repaired == 8)
      }
    }
  }

  @Test("a store that does not answer: handlers of stateful agents fail with unavailable in bounded time, others keep running")
  func storeHangs() async throws {
    let store = FlakyStore()
    try await withRuntime(store, configure: { $0.stateStoreTimeout = .milliseconds(300) }) { runtime in
      _ = try await runtime.send(Ping(hops: 0), to: "counter/a", returning: Ping.self)
      store.hang.store(true, ordering: .relaxed)
      let started = ContinuousClock.now
      let saveError = await #expect(throws: AgentRuntimeError.self) {
        try await runtime.send(Ping(hops: 0), to: "counter/a", returning: Ping.self)
      }
      #expect(saveError?.code == .unavailable)
      #expect(saveError?.message == "could not save the state of counter/a: the state store did not answer within 0.3 s")
      let activationError = await #expect(throws: AgentRuntimeError.self) {
        try await runtime.send(Ping(hops: 0), to: "counter/b", returning: Ping.self)
      }
      #expect(activationError?.code == .unavailable)
      #expect(ContinuousClock.now - started < .seconds(5))
      // A stateless agent does not touch the store.
      let reply = try await runtime.send(ChatMessage(text: "hi"), to: "echo/x", returning: ChatReply.self)
      #expect(reply.text.hasPrefix("x heard hi"))
      store.hang.store(false, ordering: .relaxed)
      let value = try await runtime.send(Ping(hops: 0), to: "counter/b", returning: Ping.self).hops
      #expect(value == 1)
    }
  }

  @Test("a corrupt SQLite row is reported, not read as empty state")
  func corruptSQLiteRow() async throws {
    try await StoreKind.sqlite.withStore { store, _ in
      let sqlite = try #require(store as? SQLiteAgentStateStore)
      _ = try await sqlite.save("counter/a", data: Data(#"{"count":1}"#.utf8), expectedVersion: 0)
      // Another program writes text where the state's bytes belong.
      let other = try await SQLiteConnection.open(storage: .file(path: sqlite.path))
      _ = try await other.query("UPDATE agent_state SET data = 'oops' WHERE agent_type = 'counter'")
      try await other.close()
      let error = await #expect(throws: AgentRuntimeError.self) { try await store.load("counter/a") }
      #expect(error?.code == .stateStoreFailed)
      #expect(error?.message.contains("the stored state of counter/a") == true)
      #expect(error?.message.contains("is malformed") == true)
    }
  }

  @Test("a PostgreSQL server that cannot be reached: unavailable within the state timeout; the runtime keeps serving")
  func postgresUnreachable() async throws {
    // A port nothing listens on: bound, then closed.
    let url = "postgres://agents@127.0.0.1:\(try unusedPort())/agents"
    try await TestPostgres.withStore(url: url) { store in
      try await withRuntime(store, configure: { $0.stateStoreTimeout = .milliseconds(500) }) { runtime in
        let error = await #expect(throws: AgentRuntimeError.self) {
          try await runtime.send(Ping(hops: 0), to: "counter/a", returning: Ping.self)
        }
        #expect(error?.code == .unavailable)
        #expect(error?.message.contains("the state store did not answer within 0.5 s") == true)
        let reply = try await runtime.send(ChatMessage(text: "hi"), to: "echo/x", returning: ChatReply.self)
        #expect(reply.text.hasPrefix("x heard hi"))
      }
    }
  }

  @Test("PostgreSQL: the store reconnects by itself after the server drops its connections", .enabled(if: TestPostgres.enabled))
  func postgresReconnects() async throws {
    let url = try TestPostgres.requireURL()
    try await TestPostgres.withStore(url: url) { store in
      try await withRuntime(store) { runtime in
        _ = try await runtime.send(Ping(hops: 0), to: "counter/a", returning: Ping.self)
        let dropped = try await terminateSessions(of: store, url: url)
        #expect(dropped > 0)
        // Calls fail only while the pool replaces its connections (a save that fails that way may
        // or may not have been applied); loads succeed again on their own.
        let deadline = ContinuousClock.now + .seconds(30)
        var loaded: StoredAgentState?
        while loaded == nil, ContinuousClock.now < deadline {
          loaded = try? await store.load("counter/a")
          if loaded == nil { try await Task.sleep(for: .milliseconds(50)) }  // paces the retries
        }
        #expect(loaded?.version == 1)
        let value = try await runtime.send(Ping(hops: 0), to: "counter/a", returning: Ping.self).hops
        #expect(value == 2)
        let version = try await store.load("counter/a")?.version
        #expect(version == 2)
      }
    }
  }

  @Test("PostgreSQL: a URL that is not one is refused with a clear error")
  func postgresBadURL() {
    let error = #expect(throws: AgentRuntimeError.self) { try PostgresAgentStateStore(url: "mysql://x@y/z") }
    #expect(error?.code == .invalidArgument)
    #expect(error?.message == "'mysql://x@y/z' is not a PostgreSQL URL: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE")
    let table = #expect(throws: AgentRuntimeError.self) { try PostgresAgentStateStore(url: "postgres://a@b/c", table: "x; drop") }
    #expect(table?.code == .invalidArgument)
    let secret = #expect(throws: AgentRuntimeError.self) { try PostgresAgentStateStore(url: "postgres://a:hunter2@/c") }
    #expect(secret?.message.contains("hunter2") == false)
  }

  /// Ends the store's sessions on the server (`pg_terminate_backend`), as a server restart or a
  /// network cut would; returns how many.
  private func terminateSessions(of store: PostgresAgentStateStore, url: String) async throws -> Int {
    // Its own event loop, off the loops the other tests' hosts and clients share.
    let eventLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    defer { eventLoop.shutdownGracefully { _ in } }
    let components = try #require(URLComponents(string: url))
    let configuration = PostgresClient.Configuration(
      host: try #require(components.host), port: components.port ?? 5432, username: try #require(components.user),
      password: components.password, database: String(components.path.dropFirst()), tls: .disable)
    let client = PostgresClient(configuration: configuration, eventLoopGroup: eventLoop, backgroundLogger: quietLogger)
    return try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask { await client.run() }
      defer { group.cancelAll() }
      let rows = try await client.query(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = \(store.table)")
      var count = 0
      for try await terminated in rows.decode(Int64.self) { count = Int(terminated) }
      return count
    }
  }

  private func unusedPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    try withUnsafeMutablePointer(to: &address) { pointer in
      try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
        guard bind(fd, raw, length) == 0, getsockname(fd, raw, &length) == 0 else {
          throw AgentRuntimeError(code: .unavailable, message: "no free port")
        }
      }
    }
    return Int(UInt16(bigEndian: address.sin_port))
  }
}
