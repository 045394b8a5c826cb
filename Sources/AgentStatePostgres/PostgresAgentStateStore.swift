public import AgentCore
public import Foundation
public import Logging
import PostgresNIO
public import ServiceLifecycle

/// Agent state in PostgreSQL: what hosts share when state must outlive any one machine (and what
/// the cluster's replicas will share).
///
/// One table, `agent_state (agent_type, agent_key, version, data, updated_at)` unless named
/// otherwise, created by ``run()`` if missing. A save is one conditional statement (`INSERT ... ON CONFLICT DO NOTHING`
/// for the first version, `UPDATE ... WHERE version = $n` after), so a stale writer is refused by
/// the database itself, whichever host it comes through.
///
/// The store is a `Service`: run it (in the same `ServiceGroup` as the host, before it) for as
/// long as it is used; its connection pool reconnects by itself when the server comes back. Its
/// queries run as child tasks of ``run()``, and a caller waits for one at most the statement
/// timeout plus the connect timeout: a query PostgresNIO cannot cancel (one already sent) never
/// holds its caller, which gets `AgentRuntimeError.Code.unavailable`, as it does while the server
/// cannot be reached.
///
/// ```swift
/// let store = try PostgresAgentStateStore(url: "postgres://agents@127.0.0.1:5432/agents")
/// var configuration = AgentHost.Configuration()
/// configuration.stateStore = store
/// let host = AgentHost(configuration: configuration)
/// try await ServiceGroup(services: [store, host], logger: logger).run()
/// ```
public final class PostgresAgentStateStore: AgentStateStore, Service {
  private let client: PostgresClient
  /// The pool's own event loop: database traffic never runs on the loops that route messages.
  private let eventLoop: MultiThreadedEventLoopGroup
  private let logger: Logger
  /// The server and database, without credentials, for error messages.
  public let location: String
  /// The table's name.
  public let table: String
  private let ready = OneShot<Void>()
  /// How long a caller waits for one operation.
  private let callTimeout: Duration
  /// Queries to run as children of ``run()``.
  private let jobs: AsyncStream<@Sendable () async -> Void>
  private let submit: AsyncStream<@Sendable () async -> Void>.Continuation

  /// A store on the database at `url`: `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`
  /// (`postgresql://` too). TLS is not used; reach the server over loopback or a private network.
  ///
  /// - Parameters:
  ///   - url: the database, `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`.
  ///   - statementTimeout: how long the server may spend on one statement before it cancels it.
  ///   - table: the table's name (lower-case letters, digits and `_`), for several stores in one
  ///     database.
  ///   - connectTimeout: how long one connection attempt may take.
  ///   - applicationName: how the store's sessions are named on the server (`application_name`,
  ///     shown in `pg_stat_activity`).
  ///   - logger: where the pool and the store log.
  /// - Throws: `AgentRuntimeError/Code/invalidArgument` naming what is wrong with `url` or `table`.
  public init(
    url: String,
    table: String = "agent_state",
    statementTimeout: Duration = .seconds(5),
    connectTimeout: Duration = .seconds(5),
    applicationName: String = "agent-runtime-state",
    logger: Logger = Logger(label: "agents.state.postgres")
  ) throws(AgentRuntimeError) {
    let components = try Self.check(url: url)
    guard let host = components.host, let user = components.user else { preconditionFailure("checked") }
    guard table.count <= 63, let first = table.first, first.isLetter || first == "_",
      table.allSatisfy({ ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "_" })
    else {
      throw AgentRuntimeError(
        code: .invalidArgument, message: "'\(table)' is not a table name: lower-case letters, digits and '_', at most 63")
    }
    self.table = table
    let database = String(components.path.drop(while: { $0 == "/" }))
    var configuration = PostgresClient.Configuration(
      host: host, port: components.port ?? 5432, username: user, password: components.password,
      database: database.isEmpty ? nil : database, tls: .disable)
    configuration.options.connectTimeout = connectTimeout
    configuration.options.maximumConnections = 8
    let milliseconds = statementTimeout.components.seconds * 1000 + statementTimeout.components.attoseconds / 1_000_000_000_000_000
    configuration.options.additionalStartupParameters = [
      ("statement_timeout", "\(max(1, milliseconds))"), ("application_name", applicationName),
    ]
    self.eventLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    self.client = PostgresClient(configuration: configuration, eventLoopGroup: eventLoop, backgroundLogger: logger)
    self.callTimeout = statementTimeout + connectTimeout
    (jobs, submit) = AsyncStream.makeStream()
    self.logger = logger
    self.location = "postgres://\(host):\(components.port ?? 5432)/\(database)"
  }

  /// Runs the connection pool and creates the table, until graceful shutdown or cancellation.
  public func run() async throws {
    defer { eventLoop.shutdownGracefully { _ in } }
    await withDiscardingTaskGroup { group in
      group.addTask { await self.client.run() }
      group.addTask { await cancelWhenGracefulShutdown { await self.prepare() } }
      // At graceful shutdown no more queries are taken; those running end as the pool stops.
      group.addTask {
        await withTaskCancellationHandler {
          await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { queries in
              for await job in self.jobs { queries.addTask { await job() } }
            }
          } onGracefulShutdown: {
            self.submit.finish()
          }
        } onCancel: {
          self.submit.finish()
        }
      }
    }
  }

  /// Runs `operation` as a child of ``run()``; waits for it at most the call timeout.
  private func perform<T: Sendable>(_ what: String, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let result = OneShot<T>()
    let job: @Sendable () async -> Void = {
      do {
        result.resolve(.success(try await operation()))
      } catch {
        result.resolve(.failure(error))
      }
    }
    if case .terminated = submit.yield(job) {
      throw AgentRuntimeError(code: .unavailable, message: "could not \(what): the PostgreSQL state store at \(location) has stopped")
    }
    let (timeout, location) = (callTimeout, self.location)
    return try await withDeadline(
      timeout,
      timeoutError: {
        AgentRuntimeError(
          code: .unavailable, message: "could not \(what): the PostgreSQL state store at \(location) did not answer within \(timeout.secondsDescription)")
      },
      cancelledError: { AgentRuntimeError(code: .cancelled, message: "could not \(what): cancelled") },
      { try await result.value() })
  }

  /// Creates the table, retrying while the server cannot be reached; calls wait for it.
  private func prepare() async {
    var delay = Duration.milliseconds(100)
    while !Task.isCancelled {
      do {
        try await client.query(
          """
          CREATE TABLE IF NOT EXISTS \(unescaped: table) (
            agent_type text NOT NULL,
            agent_key text NOT NULL,
            version bigint NOT NULL,
            data bytea NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (agent_type, agent_key)
          )
          """, logger: logger)
        ready.resolve(.success(()))
        logger.info("state store ready", metadata: ["database": "\(location)"])
        return
      } catch {
        logger.warning("state store not ready; retrying", metadata: ["database": "\(location)", "error": "\(String(reflecting: error))"])
        guard (try? await Task.sleep(for: delay)) != nil else { break }
        delay = min(delay * 2, .seconds(5))
      }
    }
    ready.resolve(.failure(AgentRuntimeError(code: .unavailable, message: "the PostgreSQL state store at \(location) stopped")))
  }

  public func load(_ id: AgentId) async throws -> StoredAgentState? {
    try await perform("load the state of \(id)") { try await self.query(id) }
  }

  public func save(_ id: AgentId, data: Data, expectedVersion: Int64) async throws -> Int64 {
    try await perform("save the state of \(id)") { try await self.update(id, data: data, expectedVersion: expectedVersion) }
  }

  private func query(_ id: AgentId) async throws -> StoredAgentState? {
    try await ready.value()
    return try await run("load the state of \(id)") {
      let rows = try await self.client.query(
        "SELECT version, data FROM \(unescaped: self.table) WHERE agent_type = \(id.type.name) AND agent_key = \(id.key)", logger: self.logger)
      for try await (version, data) in rows.decode((Int64, Data).self) {
        return StoredAgentState(data: data, version: version)
      }
      return nil
    }
  }

  private func update(_ id: AgentId, data: Data, expectedVersion: Int64) async throws -> Int64 {
    try await ready.value()
    let saved: Int64? = try await run("save the state of \(id)") {
      let rows: PostgresRowSequence
      if expectedVersion == 0 {
        rows = try await self.client.query(
          """
          INSERT INTO \(unescaped: self.table) (agent_type, agent_key, version, data) VALUES (\(id.type.name), \(id.key), 1, \(data))
          ON CONFLICT (agent_type, agent_key) DO NOTHING RETURNING version
          """, logger: self.logger)
      } else {
        rows = try await self.client.query(
          """
          UPDATE \(unescaped: self.table) SET version = version + 1, data = \(data), updated_at = now()
          WHERE agent_type = \(id.type.name) AND agent_key = \(id.key) AND version = \(expectedVersion) RETURNING version
          """, logger: self.logger)
      }
      for try await version in rows.decode(Int64.self) { return version }
      return nil
    }
    if let saved { return saved }
    let stored = try await query(id)?.version ?? 0
    throw AgentRuntimeError.staleState(id, expected: expectedVersion, stored: stored)
  }

  /// Runs one query: a server that cannot be reached, or a connection lost, is `unavailable`;
  /// anything else the server says is `stateStoreFailed`.
  private func run<T: Sendable>(_ what: String, _ query: () async throws -> T) async throws(AgentRuntimeError) -> T {
    do {
      return try await query()
    } catch let error as AgentRuntimeError {
      throw error
    } catch let error as PSQLError where error.code == .server {
      let state = error.serverInfo?[.sqlState] ?? "?"
      let message = error.serverInfo?[.message] ?? "\(error)"
      // 57014: the statement timed out; class 08: connection exceptions; 57P01-03: the server is shutting down.
      let unavailable = state == "57014" || state.hasPrefix("08") || state.hasPrefix("57P")
      throw AgentRuntimeError(
        code: unavailable ? .unavailable : .stateStoreFailed,
        message: "could not \(what) in \(location): \(message) (SQLSTATE \(state))", cause: error)
    } catch let error as PostgresDecodingError {
      throw AgentRuntimeError(
        code: .stateStoreFailed, message: "could not \(what) in \(location): a stored row is malformed (\(String(reflecting: error)))",
        cause: error)
    } catch {
      throw AgentRuntimeError(
        code: .unavailable, message: "could not \(what) in \(location): the database cannot be reached (\(String(reflecting: error)))",
        cause: error)
    }
  }

  /// The parts of a PostgreSQL URL, or an error saying what it should look like.
  @discardableResult
  package static func check(url: String) throws(AgentRuntimeError) -> URLComponents {
    guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? ""),
      let host = components.host, !host.isEmpty, let user = components.user, !user.isEmpty
    else {
      throw AgentRuntimeError(
        code: .invalidArgument, message: "'\(Self.redacted(url))' is not a PostgreSQL URL: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE")
    }
    return components
  }

  /// `url` without its password.
  static func redacted(_ url: String) -> String {
    guard var components = URLComponents(string: url), components.password != nil else { return url }
    components.password = "***"
    return components.string ?? url
  }
}
