import AgentCore
import Foundation
import Logging
import GrpcHost
import PostgresNIO
import Synchronization

extension ClusterDirectory {
  /// Listens for the directory's notifications on a connection of its own (outside the pool,
  /// which stops by itself at graceful shutdown), and reads the whole directory on it when it
  /// starts listening (so nothing between two connections is missed) and every resync interval;
  /// reconnects after a loss, until cancelled, which closes the connection.
  func listen() async {
    var delay = Duration.milliseconds(100)
    while !Task.isCancelled {
      do {
        let connection = try await PostgresConnection.connect(
          on: eventLoop.next(), configuration: connectionConfiguration, id: 2, logger: logger)
        // Closed on every path: PostgresNIO requires it before the connection goes.
        let outcome: Result<Void, any Error>
        do {
          try await connection.listen(on: schema.channel) { notifications in
            try await self.resync(on: connection)
            delay = .milliseconds(100)
            try await withThrowingTaskGroup(of: Void.self) { group in
              group.addTask {
                for try await notification in notifications { self.apply(notification: notification.payload) }
              }
              group.addTask {
                while true {
                  try await Task.sleep(for: self.configuration.resyncInterval)
                  try await self.resync(on: connection)
                }
              }
              try await group.next()
              group.cancelAll()
            }
          }
          outcome = .success(())
        } catch {
          outcome = .failure(error)
        }
        try? await connection.close()
        try outcome.get()
      } catch {
        if Task.isCancelled { return }
        note(problem: "lost the directory's notifications from \(location): \(Self.describe(error))")
      }
      guard (try? await Task.sleep(for: delay)) != nil else { return }
      delay = min(delay * 2, .seconds(2))
    }
  }

  /// Replaces the cache with a full read of the directory (one snapshot: one transaction).
  func resync(on connection: PostgresConnection) async throws {
    let snapshot = try await connection.withTransaction(logger: logger) { connection -> DirectoryCache in
      _ = try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
      var nodes: [ClusterNode] = []
      for try await (name, address, generation) in try await connection.query(
        "SELECT name, address, generation FROM \(unescaped: schema.table("agents_nodes")) WHERE lease_expires_at > now()",
        logger: logger
      ).decode((String, String, Int64).self) {
        nodes.append(ClusterNode(name: name, address: address, generation: generation))
      }
      var types: [(node: String, agentType: String)] = []
      for try await row in try await connection.query(
        "SELECT node, agent_type FROM \(unescaped: schema.table("agents_node_types"))", logger: logger
      ).decode((String, String).self) {
        types.append(row)
      }
      var subscriptions: [ClusterSubscription] = []
      for try await (id, node, kind, topic, agentType) in try await connection.query(
        "SELECT id, node, kind, topic, agent_type FROM \(unescaped: schema.table("agents_subscriptions"))", logger: logger
      ).decode((String, String, String, String, String).self) {
        subscriptions.append(ClusterSubscription(id: id, node: node, kind: kind, topic: topic, agentType: agentType))
      }
      var placements: [(DirectoryCache.PlacementKey, DirectoryCache.Placement)] = []
      for try await (type, key, node, generation) in try await connection.query(
        "SELECT agent_type, agent_key, node, generation FROM \(unescaped: schema.table("agents_placements"))", logger: logger
      ).decode((String, String, String, Int64).self) {
        placements.append((DirectoryCache.PlacementKey(agentType: type, key: key), DirectoryCache.Placement(node: node, generation: generation)))
      }
      return DirectoryCache.snapshot(nodes: nodes, types: types, placements: placements, subscriptions: subscriptions)
    }
    let changed = state.withLock { state in
      defer { state.cache = snapshot }
      return state.cache != snapshot
    }
    if changed { updates.yield(()) }
  }

  /// Applies one notification's change to the cache; one that cannot be read triggers a resync
  /// at the next interval (it is logged).
  func apply(notification payload: String) {
    guard let change = Self.change(from: payload) else {
      logger.warning("unreadable directory notification ignored", metadata: ["payload": "\(payload.prefix(200))"])
      return
    }
    state.withLock { $0.cache.apply(change) }
    updates.yield(())
  }

  /// The change a notification describes (`DirectorySchema`'s JSON).
  static func change(from payload: String) -> DirectoryCache.Change? {
    struct Notification: Decodable {
      var table: String
      var op: String
      var row: [String: JSONValue]
    }
    guard let notification = try? JSONDecoder().decode(Notification.self, from: Data(payload.utf8)) else { return nil }
    let row = notification.row
    let deleted = notification.op == "DELETE"
    switch notification.table {
    case "agents_nodes":
      guard let name = row["name"]?.string, let generation = row["generation"]?.integer else { return nil }
      if deleted { return .nodeLeft(name: name, generation: generation) }
      guard let address = row["address"]?.string else { return nil }
      return .nodeJoined(ClusterNode(name: name, address: address, generation: generation))
    case "agents_node_types":
      guard let node = row["node"]?.string, let type = row["agent_type"]?.string else { return nil }
      return deleted ? .typeRemoved(node: node, agentType: type) : .typeAdded(node: node, agentType: type)
    case "agents_placements":
      guard let type = row["agent_type"]?.string, let key = row["agent_key"]?.string, let node = row["node"]?.string,
        let generation = row["generation"]?.integer
      else { return nil }
      let placement = DirectoryCache.PlacementKey(agentType: type, key: key)
      return deleted
        ? .unplaced(placement, node: node, generation: generation) : .placed(placement, node: node, generation: generation)
    case "agents_subscriptions":
      guard let id = row["id"]?.string else { return nil }
      if deleted { return .unsubscribed(id: id) }
      guard let node = row["node"]?.string, let kind = row["kind"]?.string, let topic = row["topic"]?.string,
        let type = row["agent_type"]?.string
      else { return nil }
      return .subscribed(ClusterSubscription(id: id, node: node, kind: kind, topic: topic, agentType: type))
    default:
      return nil
    }
  }
}

/// A JSON value from a notification's row: strings and integers are what the directory reads.
enum JSONValue: Decodable {
  case string(String)
  case integer(Int64)
  case other

  init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    if let text = try? container.decode(String.self) {
      self = .string(text)
    } else if let number = try? container.decode(Int64.self) {
      self = .integer(number)
    } else {
      self = .other
    }
  }

  var string: String? { if case .string(let text) = self { text } else { nil } }
  var integer: Int64? { if case .integer(let number) = self { number } else { nil } }
}
