public import AgentCore
public import Foundation
import NIOCore
import SQLiteNIO

/// Agent state in an embedded SQLite file: what a single host (or an in-process runtime) keeps
/// across restarts without a database server.
///
/// One table, `agent_state (agent_type, agent_key, version, data)`, created on open. A save is one
/// conditional statement (`INSERT ... ON CONFLICT DO NOTHING` for the first version, `UPDATE ...
/// WHERE version = ?` after), so a stale writer is refused by the database itself.
///
/// Close it (``close()``) before letting it go: SQLite's connection must be closed, and
/// ``withSQLiteAgentStateStore(path:_:)`` does it for a scope.
///
/// ```swift
/// try await withSQLiteAgentStateStore(path: "state.sqlite") { store in
///   var configuration = InProcessRuntime.Configuration()
///   configuration.stateStore = store
///   try await withInProcessRuntime(configuration: configuration) { runtime in ... }
/// }
/// ```
public final class SQLiteAgentStateStore: AgentStateStore {
  private let connection: SQLiteConnection
  /// Where the file is, for error messages.
  public let path: String

  private init(connection: SQLiteConnection, path: String) {
    self.connection = connection
    self.path = path
  }

  /// Opens (creating if needed) the database at `path` and its table.
  ///
  /// - Throws: `AgentRuntimeError/Code/stateStoreFailed` naming the file when it cannot be opened.
  public static func open(path: String) async throws -> SQLiteAgentStateStore {
    do {
      let connection = try await SQLiteConnection.open(storage: .file(path: path))
      do {
        _ = try await connection.query("PRAGMA journal_mode = WAL")
        // In WAL mode, NORMAL syncs at checkpoints: a commit survives the process being killed
        // (what a host restart or crash does), not the machine losing power.
        _ = try await connection.query("PRAGMA synchronous = NORMAL")
        _ = try await connection.query(
          """
          CREATE TABLE IF NOT EXISTS agent_state (
            agent_type TEXT NOT NULL,
            agent_key TEXT NOT NULL,
            version INTEGER NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (agent_type, agent_key)
          )
          """)
      } catch {
        try? await connection.close()
        throw error
      }
      return SQLiteAgentStateStore(connection: connection, path: path)
    } catch {
      throw AgentRuntimeError(
        code: .stateStoreFailed, message: "cannot open the SQLite state store at '\(path)': \(error)", cause: error)
    }
  }

  /// Closes the database; later calls fail.
  public func close() async throws {
    try await connection.close()
  }

  public func load(_ id: AgentId) async throws -> StoredAgentState? {
    let rows = try await run("load the state of \(id)") {
      try await self.connection.query(
        "SELECT version, data FROM agent_state WHERE agent_type = ? AND agent_key = ?",
        [.text(id.type.name), .text(id.key)])
    }
    guard let row = rows.first else { return nil }
    guard let version = row.column("version")?.integer, case .blob(let buffer)? = row.column("data") else {
      throw AgentRuntimeError(code: .stateStoreFailed, message: "the stored state of \(id) in '\(path)' is malformed")
    }
    return StoredAgentState(data: Data(buffer.readableBytesView), version: Int64(version))
  }

  public func save(_ id: AgentId, data: Data, expectedVersion: Int64) async throws -> Int64 {
    let blob = SQLiteData.blob(ByteBuffer(bytes: data))
    let rows = try await run("save the state of \(id)") {
      if expectedVersion == 0 {
        try await self.connection.query(
          """
          INSERT INTO agent_state (agent_type, agent_key, version, data) VALUES (?, ?, 1, ?)
          ON CONFLICT (agent_type, agent_key) DO NOTHING RETURNING version
          """,
          [.text(id.type.name), .text(id.key), blob])
      } else {
        try await self.connection.query(
          """
          UPDATE agent_state SET version = version + 1, data = ?
          WHERE agent_type = ? AND agent_key = ? AND version = ? RETURNING version
          """,
          [blob, .text(id.type.name), .text(id.key), .integer(Int(expectedVersion))])
      }
    }
    if let version = rows.first?.column("version")?.integer { return Int64(version) }
    let stored = try await load(id)?.version ?? 0
    throw AgentRuntimeError.staleState(id, expected: expectedVersion, stored: stored)
  }

  private func run(_ what: String, _ query: @Sendable () async throws -> [SQLiteRow]) async throws(AgentRuntimeError) -> [SQLiteRow] {
    do {
      return try await query()
    } catch {
      throw AgentRuntimeError(
        code: .stateStoreFailed, message: "could not \(what) in '\(path)': \(error)", cause: error)
    }
  }
}

/// Opens the SQLite state store at `path` for the duration of `body`, then closes it.
public func withSQLiteAgentStateStore<Result: Sendable>(
  path: String,
  _ body: (SQLiteAgentStateStore) async throws -> Result
) async throws -> Result {
  let store = try await SQLiteAgentStateStore.open(path: path)
  do {
    let result = try await body(store)
    try await store.close()
    return result
  } catch {
    try? await store.close()
    throw error
  }
}
