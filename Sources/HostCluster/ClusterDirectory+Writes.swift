public import AgentCore
import Foundation
import Logging
import GrpcHost
import PostgresNIO
import Synchronization

extension ClusterDirectory {
  /// Sets the agent types this node's workers serve: written now when the node is a member (and
  /// at every join).
  public func setServedTypes(_ types: Set<String>) async throws {
    let previous = state.withLock { state in
      defer { state.servedTypes = types }
      return state.servedTypes
    }
    guard case .member(let generation) = membership else { return }
    try await writeTypes(added: types.subtracting(previous), removed: previous.subtracting(types), generation: generation)
  }

  /// Adds a subscription of this node's workers to the cluster's. A subscription with the same id
  /// recorded for another node passes to this one: its worker moved here (the host refuses an id
  /// another live node's worker holds before it gets here).
  public func subscribe(id: String, kind: String, topic: String, agentType: String) async throws {
    let subscription = ClusterSubscription(id: id, node: configuration.nodeName, kind: kind, topic: topic, agentType: agentType)
    state.withLock { $0.subscriptions[id] = subscription }
    guard case .member(let generation) = membership else { return }
    try await write(subscription, generation: generation)
  }

  /// Removes a subscription of this node's workers.
  public func unsubscribe(id: String) async throws {
    state.withLock { $0.subscriptions[id] = nil }
    try await run("remove subscription '\(id)'") {
      _ = try await self.client.query(
        "DELETE FROM \(unescaped: self.schema.table("agents_subscriptions")) WHERE id = \(id) AND node = \(self.configuration.nodeName)",
        logger: self.logger)
    }
  }

  /// The node that holds `id`: the one already recorded, or this node, which claims it now (the
  /// primary key decides between nodes claiming at once).
  ///
  /// - Throws: `AgentRuntimeError/Code/unavailable` when the database cannot be reached or this
  ///   node is not a member (fenced, or joining).
  public func claim(_ id: AgentId) async throws -> String {
    let generation = try currentGeneration()
    let node = configuration.nodeName
    let owner: (String, Int64)? = try await run("place \(id)") {
      let placements = self.schema.table("agents_placements")
      let rows = try await self.client.query(
        """
        INSERT INTO \(unescaped: placements) (agent_type, agent_key, node, generation)
        SELECT \(id.type.name), \(id.key), \(node), \(generation)
        WHERE EXISTS (SELECT 1 FROM \(unescaped: self.schema.table("agents_nodes"))
                      WHERE name = \(node) AND generation = \(generation) AND lease_expires_at > now())
        ON CONFLICT (agent_type, agent_key) DO NOTHING RETURNING node, generation
        """, logger: self.logger)
      for try await owner in rows.decode((String, Int64).self) { return owner }
      let current = try await self.client.query(
        "SELECT node, generation FROM \(unescaped: placements) WHERE agent_type = \(id.type.name) AND agent_key = \(id.key)",
        logger: self.logger)
      for try await owner in current.decode((String, Int64).self) { return owner }
      return nil
    }
    guard let (owner, ownerGeneration) = owner else {
      throw AgentRuntimeError(
        code: .unavailable, message: "node '\(node)' may not place \(id): its generation \(generation) is no longer a member (fenced)")
    }
    // Known here before the notification comes back.
    state.withLock { $0.cache.apply(.placed(.init(agentType: id.type.name, key: id.key), node: owner, generation: ownerGeneration)) }
    return owner
  }

  /// Releases this node's placement of `id` (its worker went, say), so that it is placed again
  /// on demand.
  public func release(_ id: AgentId) async throws {
    try await run("release \(id)") {
      _ = try await self.client.query(
        """
        DELETE FROM \(unescaped: self.schema.table("agents_placements"))
        WHERE agent_type = \(id.type.name) AND agent_key = \(id.key) AND node = \(self.configuration.nodeName)
        """, logger: self.logger)
    }
  }

  // MARK: Writing

  /// Writes what this node serves and its subscriptions, after a join.
  func writeDesiredState(generation: Int64) async {
    let (types, subscriptions) = state.withLock { ($0.servedTypes, Array($0.subscriptions.values)) }
    do {
      try await writeTypes(added: types, removed: [], generation: generation)
      for subscription in subscriptions { try await write(subscription, generation: generation) }
    } catch {
      note(problem: "cannot write this node's types and subscriptions: \(Self.describe(error))")
    }
  }

  private func writeTypes(added: Set<String>, removed: Set<String>, generation: Int64) async throws {
    let node = configuration.nodeName
    for type in added.sorted() {
      try await run("record that '\(node)' serves '\(type)'") {
        _ = try await self.client.query(
          """
          INSERT INTO \(unescaped: self.schema.table("agents_node_types")) (node, agent_type)
          SELECT \(node), \(type) WHERE EXISTS (SELECT 1 FROM \(unescaped: self.schema.table("agents_nodes"))
                                                WHERE name = \(node) AND generation = \(generation) AND lease_expires_at > now())
          ON CONFLICT DO NOTHING
          """, logger: self.logger)
      }
    }
    for type in removed.sorted() {
      try await run("record that '\(node)' no longer serves '\(type)'") {
        _ = try await self.client.query(
          "DELETE FROM \(unescaped: self.schema.table("agents_node_types")) WHERE node = \(node) AND agent_type = \(type)",
          logger: self.logger)
        // Its instances of the type have nowhere to go on this node: placed afresh on demand.
        _ = try await self.client.query(
          "DELETE FROM \(unescaped: self.schema.table("agents_placements")) WHERE node = \(node) AND agent_type = \(type)",
          logger: self.logger)
      }
    }
  }

  private func write(_ subscription: ClusterSubscription, generation: Int64) async throws {
    try await run("record subscription '\(subscription.id)'") {
      _ = try await self.client.query(
        """
        INSERT INTO \(unescaped: self.schema.table("agents_subscriptions")) (id, node, kind, topic, agent_type)
        SELECT \(subscription.id), \(subscription.node), \(subscription.kind), \(subscription.topic), \(subscription.agentType)
        WHERE EXISTS (SELECT 1 FROM \(unescaped: self.schema.table("agents_nodes"))
                      WHERE name = \(subscription.node) AND generation = \(generation) AND lease_expires_at > now())
        ON CONFLICT (id) DO UPDATE SET node = EXCLUDED.node, kind = EXCLUDED.kind, topic = EXCLUDED.topic, agent_type = EXCLUDED.agent_type
        """, logger: self.logger)
    }
  }

  /// Runs one database operation; what goes wrong is `unavailable` with the reason.
  func run<T: Sendable>(_ what: String, _ operation: () async throws -> T) async throws(AgentRuntimeError) -> T {
    do {
      return try await operation()
    } catch let error as AgentRuntimeError {
      throw error
    } catch {
      throw AgentRuntimeError(code: .unavailable, message: "could not \(what) in \(location): \(Self.describe(error))", cause: error)
    }
  }
}
