public import AgentCore
import Foundation
public import Logging
public import GrpcHost
import PostgresNIO
public import ServiceLifecycle
import Synchronization

/// A node's view of, and writes to, the cluster's shared directory in PostgreSQL: membership
/// with leases and generations, the agent types each node serves, subscriptions, and placements
/// of agent instances (see `DirectorySchema` for the tables).
///
/// A `Service`, run together with its connection pool: put ``pool`` before the directory in the
/// same `ServiceGroup` (which shuts services down in reverse order), so that the pool outlives the
/// directory's last writes at graceful shutdown. ``run()`` creates or migrates the tables, joins (a new generation), renews the
/// lease every ``Configuration/heartbeatInterval`` and deletes nodes whose lease expired (what
/// they held goes with them), keeps ``cache`` current from the database's notifications
/// (LISTEN/NOTIFY) with a full read when it starts listening and every
/// ``Configuration/resyncInterval``, and leaves (deleting its row) at graceful shutdown.
///
/// A node whose lease ran out while the others could reach the database (it was paused, or cut
/// off from the database) is removed by them and fenced: the database refuses its writes, its
/// renewal finds no row, and it joins again as a new generation, writing its types and
/// subscriptions again; its placements are gone and are decided again on demand. A node removes
/// others only after renewing without a gap for a whole lease, so that when the database comes
/// back after an outage every node renews in time and keeps what it held. While the database
/// cannot be reached the node keeps its cache, and claims fail with `unavailable`.
public final class ClusterDirectory: Service, NodeDirectory, Sendable {
  /// Directory settings.
  public struct Configuration: Sendable {
    /// The database, `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`.
    public var url: String
    /// This node's name, unique in the cluster.
    public var nodeName: String
    /// Where peers reach this node's gRPC port, `HOST:PORT`.
    public var address: String
    /// The PostgreSQL schema holding the tables (one cluster per schema). Default `public`.
    public var schema: String = "public"
    /// How long a node stays a member without renewing its lease. Default 3 s.
    public var lease: Duration = .seconds(3)
    /// How often the lease is renewed (and expired nodes removed). Default 1 s.
    public var heartbeatInterval: Duration = .seconds(1)
    /// How often the whole directory is read again, for anything a notification missed. Default 30 s.
    public var resyncInterval: Duration = .seconds(30)
    /// How long one statement may take before the server cancels it. Default 2 s.
    public var statementTimeout: Duration = .seconds(2)

    public init(url: String, nodeName: String, address: String) {
      self.url = url
      self.nodeName = nodeName
      self.address = address
    }
  }

  /// Where this node stands in the cluster.
  public enum Membership: Sendable, Equatable {
    /// Not (yet) a member: the tables are being prepared, or the node is joining.
    case joining
    /// A member, under this generation.
    case member(generation: Int64)
    /// Leaving, or left.
    case stopped
  }

  struct State {
    var membership = Membership.joining
    var cache = DirectoryCache()
    /// What this node serves and its workers subscribed, written again at each join.
    var servedTypes: Set<String> = []
    var subscriptions: [String: ClusterSubscription] = [:]
    /// When the database last answered a renewal.
    var lastRenewal: ContinuousClock.Instant?
    /// Why the last renewal or join failed, while it does.
    var problem: String?
  }

  public let configuration: Configuration
  /// This process's instance, written with its row: leaving deletes the row it wrote, even when
  /// shutdown came before the join's answer did.
  let instance = UUID().uuidString
  let schema: DirectorySchema
  let client: PostgresClient
  /// For one connection outside the pool (leaving, while the pool shuts down).
  let connectionConfiguration: PostgresConnection.Configuration
  let logger: Logger
  let state = Mutex(State())
  let updates = Broadcaster<Void>(bufferingPolicy: .bufferingNewest(1))
  /// NIO's shared loops: the directory's traffic is light.
  var eventLoop: MultiThreadedEventLoopGroup { .singleton }
  /// The server and database, without credentials, for messages.
  public let location: String

  /// - Throws: `AgentRuntimeError/Code/invalidArgument` naming what is wrong with the URL, the
  ///   node name, the address or the schema.
  public init(configuration: Configuration, logger: Logger = Logger(label: "agents.cluster")) throws(AgentRuntimeError) {
    guard let components = URLComponents(string: configuration.url), ["postgres", "postgresql"].contains(components.scheme ?? ""),
      let host = components.host, !host.isEmpty, let user = components.user, !user.isEmpty
    else {
      throw AgentRuntimeError(
        code: .invalidArgument, message: "--cluster: not a PostgreSQL URL: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE")
    }
    guard !configuration.nodeName.isEmpty, configuration.nodeName.count <= 200 else {
      throw AgentRuntimeError(code: .invalidArgument, message: "a node name is 1 to 200 characters")
    }
    do {
      _ = try HostAddress(parsing: configuration.address)
    } catch {
      throw AgentRuntimeError(code: .invalidArgument, message: "the node's address: \(error.message)")
    }
    let name = configuration.schema
    guard name.count <= 40, let first = name.first, first.isLetter || first == "_",
      name.allSatisfy({ ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "_" })
    else {
      throw AgentRuntimeError(code: .invalidArgument, message: "'\(name)' is not a schema name: lower-case letters, digits and '_', at most 40")
    }
    guard configuration.heartbeatInterval < configuration.lease else {
      throw AgentRuntimeError(code: .invalidArgument, message: "the heartbeat interval must be shorter than the lease")
    }
    self.configuration = configuration
    self.schema = DirectorySchema(schema: name)
    self.logger = logger
    let database = String(components.path.drop(while: { $0 == "/" }))
    var pool = PostgresClient.Configuration(
      host: host, port: components.port ?? 5432, username: user, password: components.password,
      database: database.isEmpty ? nil : database, tls: .disable)
    pool.options.connectTimeout = .seconds(2)
    pool.options.maximumConnections = 4
    let timeout = configuration.statementTimeout
    let milliseconds = timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
    pool.options.additionalStartupParameters = [
      ("statement_timeout", "\(max(1, milliseconds))"), ("application_name", "agents-cluster-\(configuration.nodeName)"),
    ]
    self.client = PostgresClient(configuration: pool, eventLoopGroup: MultiThreadedEventLoopGroup.singleton, backgroundLogger: logger)
    var single = PostgresConnection.Configuration(
      host: host, port: components.port ?? 5432, username: user, password: components.password,
      database: database.isEmpty ? nil : database, tls: .disable)
    single.options.connectTimeout = .seconds(2)
    self.connectionConfiguration = single
    self.location = "postgres://\(host):\(components.port ?? 5432)/\(database)"
  }

  // MARK: Reading

  /// This node's name.
  public var nodeName: String { configuration.nodeName }

  /// What this node knows of the directory now.
  public var cache: DirectoryCache { state.withLock { $0.cache } }

  /// The cache without its placements, taken under the lock (so that a notification applied
  /// meanwhile never copies them all).
  public var routingCache: DirectoryCache {
    state.withLock { $0.cache.withoutPlacements() }
  }

  /// The node holding `id`, as the cache records it.
  public func owner(of id: AgentId) -> String? {
    state.withLock { $0.cache.owner(of: id) }
  }

  /// Where this node stands.
  public var membership: Membership { state.withLock { $0.membership } }

  /// Why the node is not a healthy member, if it is not: for `/healthz` and the health service.
  public var problem: String? {
    state.withLock { state in
      if case .member = state.membership { return state.problem }
      return state.problem ?? "not a member of the cluster yet"
    }
  }

  /// Yields whenever the cache or the membership changes (the latest only, when not read).
  public func changes() -> AsyncStream<Void> { updates.subscribe(startingWith: ()) }

  // MARK: Running

  /// The directory's connection pool: a `Service` to run before the directory in the same group.
  public var pool: some Service { client }

  public func run() async throws {
    await cancelWhenGracefulShutdown {
      await self.prepareSchema()
      await withDiscardingTaskGroup { loops in
        loops.addTask {
          await self.maintainMembership()
          self.logger.debug("membership loop ended")
        }
        loops.addTask {
          await self.listen()
          self.logger.debug("listener ended")
        }
      }
    }
    logger.debug("leaving")
    await leave()
  }

  /// Creates or migrates the tables, retrying until the database answers.
  private func prepareSchema() async {
    var delay = Duration.milliseconds(100)
    while !Task.isCancelled {
      do {
        try await client.withTransaction(logger: logger) { connection in
          _ = try await connection.query("SELECT pg_advisory_xact_lock(hashtext('agents_cluster_schema'))", logger: self.logger)
          for statement in self.schema.statements {
            _ = try await connection.query(PostgresQuery(unsafeSQL: statement), logger: self.logger)
          }
        }
        return
      } catch {
        note(problem: "cannot prepare the directory in \(location): \(Self.describe(error))")
        guard (try? await Task.sleep(for: delay)) != nil else { return }
        delay = min(delay * 2, .seconds(2))
      }
    }
  }

  func note(problem: String?) {
    let changed = state.withLock { state in
      defer { state.problem = problem }
      return state.problem != problem
    }
    guard changed else { return }
    if let problem { logger.warning("cluster directory", metadata: ["problem": "\(problem)"]) }
    updates.yield(())
  }

  static func describe(_ error: any Error) -> String {
    if let error = error as? PSQLError {
      if let message = error.serverInfo?[.message] { return "\(message) (SQLSTATE \(error.serverInfo?[.sqlState] ?? "?"))" }
      return "the database cannot be reached (\(error.code))"
    }
    if let error = error as? AgentRuntimeError { return error.message }
    return "\(error)"
  }
}
