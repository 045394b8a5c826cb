public import AgentCore
public import AgentStatePostgres
import AgentStateSQLite
public import Foundation
import Logging
public import Synchronization

/// Counts pings in declared state; `Ping(hops: -1)` makes its handler throw after counting, and
/// `Ping(hops: -2)` grows the state by 10 kB (to pass a size limit).
public actor DurableCounter: RoutedAgent, StatefulAgent {
  public struct State: Codable, Sendable {
    public var count = 0
    public var padding: String?
  }
  public nonisolated let id: AgentId
  public var state = State()
  public init(id: AgentId) { self.id = id }

  public static func registerHandlers(_ router: inout MessageRouter<DurableCounter>) {
    router.onRPC(Ping.self) { agent, ping, _ in
      agent.state.count += 1
      if ping.hops == -1 { throw Boom() }
      if ping.hops == -2 { agent.state.padding = String(repeating: "x", count: 10_000) }
      return Ping(hops: agent.state.count)
    }
  }
}

/// A store that fails on demand, in front of an in-memory one: it throws (as a broken store
/// would), or hangs (as one that cannot be reached).
public final class FlakyStore: AgentStateStore {
  public struct Down: Error, CustomStringConvertible {
    public var description: String { "connection refused" }
  }
  public let inner = InMemoryAgentStateStore()
  public let failLoads = Atomic<Bool>(false)
  public let failSaves = Atomic<Bool>(false)
  /// Loads and saves wait until cancelled.
  public let hang = Atomic<Bool>(false)

  public init() {}

  public func load(_ id: AgentId) async throws -> StoredAgentState? {
    try await hangIfAsked()
    if failLoads.load(ordering: .relaxed) { throw Down() }
    return try await inner.load(id)
  }

  public func save(_ id: AgentId, data: Data, expectedVersion: Int64) async throws -> Int64 {
    try await hangIfAsked()
    if failSaves.load(ordering: .relaxed) { throw Down() }
    return try await inner.save(id, data: data, expectedVersion: expectedVersion)
  }

  private func hangIfAsked() async throws {
    guard hang.load(ordering: .relaxed) else { return }
    try await Task.sleep(for: .seconds(3600))
  }
}

/// The PostgreSQL server tests use: `AGENTS_TEST_POSTGRES_URL` (`scripts/postgres.sh start` sets
/// it; `scripts/test.sh` starts one). Without it the PostgreSQL cases do not run, unless
/// `AGENTS_REQUIRE_POSTGRES=1` (as in CI), which makes its absence a failure.
public enum TestPostgres {
  public static var url: String? { ProcessInfo.processInfo.environment["AGENTS_TEST_POSTGRES_URL"] }

  /// Whether the PostgreSQL cases run: a server is given, or one is required.
  public static var enabled: Bool {
    url != nil || ProcessInfo.processInfo.environment["AGENTS_REQUIRE_POSTGRES"] == "1"
  }

  /// The server's URL, or an error saying how to get one.
  public static func requireURL() throws -> String {
    guard let url else {
      throw AgentRuntimeError(
        code: .unavailable, message: "AGENTS_REQUIRE_POSTGRES=1 but AGENTS_TEST_POSTGRES_URL is not set: run scripts/postgres.sh start")
    }
    return url
  }

  /// A table name no other test uses.
  public static func uniqueTable() -> String {
    "test_state_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
  }

  /// Runs `body` with a running PostgreSQL store on a new table.
  public static func withStore<R: Sendable>(
    url: String, table: String = uniqueTable(), statementTimeout: Duration = .seconds(5),
    _ body: (PostgresAgentStateStore) async throws -> R
  ) async throws -> R {
    // Named after its table, so a test can end its sessions and no other's.
    let store = try PostgresAgentStateStore(
      url: url, table: table, statementTimeout: statementTimeout, applicationName: table, logger: quietLogger)
    return try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask { try await store.run() }
      defer { group.cancelAll() }
      return try await body(store)
    }
  }
}

/// The stores the shared tests run against: PostgreSQL when a server is given.
public enum StoreKind: String, CaseIterable, Sendable {
  case memory, sqlite, postgres

  /// The kinds this run can use.
  public static var available: [StoreKind] {
    TestPostgres.enabled ? allCases : [.memory, .sqlite]
  }

  /// Runs `body` with a new, empty store and a way to reopen it (the same state, as after a
  /// restart); closes what is open at the end (an SQLite connection must be closed).
  public func withStore<R: Sendable>(
    _ body: (any AgentStateStore, _ reopen: @Sendable () async throws -> any AgentStateStore) async throws -> R
  ) async throws -> R {
    switch self {
    case .memory:
      let store = InMemoryAgentStateStore()
      return try await body(store, { store })
    case .postgres:
      let url = try TestPostgres.requireURL()
      // The same running store: what a restart proves here is that a new runtime loads from the
      // database (the SQLite case reopens its file).
      return try await TestPostgres.withStore(url: url) { store in try await body(store, { store }) }
    case .sqlite:
      let path = FileManager.default.temporaryDirectory.appendingPathComponent("agent-state-\(UUID().uuidString).sqlite").path
      defer { try? FileManager.default.removeItem(atPath: path) }
      let current = Mutex<SQLiteAgentStateStore?>(try await SQLiteAgentStateStore.open(path: path))
      let reopen: @Sendable () async throws -> any AgentStateStore = {
        try await current.withLock { $0 }?.close()
        let store = try await SQLiteAgentStateStore.open(path: path)
        current.withLock { $0 = store }
        return store
      }
      do {
        let result = try await body(current.withLock { $0! }, reopen)
        try await current.withLock { $0 }?.close()
        return result
      } catch {
        try? await current.withLock { $0 }?.close()
        throw error
      }
    }
  }
}
