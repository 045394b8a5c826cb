import AgentCore
import Foundation
import Logging
import GrpcHost
import PostgresNIO
import Synchronization

extension ClusterDirectory {
  var leaseSeconds: Double { Double(configuration.lease.components.seconds) + Double(configuration.lease.components.attoseconds) / 1e18 }

  /// Joins, then renews the lease every heartbeat (and deletes expired nodes), joining again as a
  /// new generation when fenced, until cancelled.
  func maintainMembership() async {
    while !Task.isCancelled {
      let generation: Int64
      do {
        guard let joined = try await join() else {
          note(problem: "the node name '\(configuration.nodeName)' is held by a live node; waiting for its lease to end")
          guard (try? await Task.sleep(for: configuration.heartbeatInterval)) != nil else { return }
          continue
        }
        generation = joined
      } catch {
        note(problem: "cannot join the cluster in \(location): \(Self.describe(error))")
        guard (try? await Task.sleep(for: configuration.heartbeatInterval)) != nil else { return }
        continue
      }
      var healthySince = ContinuousClock.now
      state.withLock {
        $0.membership = .member(generation: generation)
        $0.lastRenewal = .now
      }
      logger.info("joined the cluster", metadata: ["node": "\(configuration.nodeName)", "generation": "\(generation)"])
      note(problem: nil)
      updates.yield(())
      await writeDesiredState(generation: generation)
      // Renew until fenced (or cancelled).
      while !Task.isCancelled {
        guard (try? await Task.sleep(for: configuration.heartbeatInterval)) != nil else { return }
        do {
          guard try await renew(generation: generation) else {
            logger.warning("fenced: removed from the cluster after its lease ran out; joining again", metadata: ["generation": "\(generation)"])
            state.withLock { $0.membership = .joining }
            note(problem: "fenced: generation \(generation) was removed from the cluster after its lease ran out")
            break
          }
          let now = ContinuousClock.now
          let previous = state.withLock { state in
            defer { state.lastRenewal = now }
            return state.lastRenewal
          }
          // Renewals with a gap longer than the lease (the database was away, or this node was
          // paused): healthy again from now.
          if previous.map({ now - $0 > configuration.lease }) ?? true { healthySince = now }
          note(problem: nil)
          // Only a node that has renewed without a gap for a whole lease removes the others: after
          // the database comes back, every node has a lease's time to renew before any is removed.
          if now - healthySince >= configuration.lease { try await reapExpiredNodes() }
        } catch {
          note(problem: "cannot renew the lease in \(location): \(Self.describe(error))")
        }
      }
    }
  }

  /// Joins under a new generation; nil when the name is held by a node whose lease is current.
  func join() async throws -> Int64? {
    try await client.withTransaction(logger: logger) { connection in
      let nodes = schema.table("agents_nodes")
      // A previous generation of this node that is gone takes its rows with it.
      _ = try await connection.query(
        "DELETE FROM \(unescaped: nodes) WHERE name = \(configuration.nodeName) AND lease_expires_at < now()", logger: logger)
      let rows = try await connection.query(
        """
        INSERT INTO \(unescaped: nodes) (name, address, generation, instance, lease_expires_at)
        VALUES (\(configuration.nodeName), \(configuration.address), nextval('\(unescaped: schema.table("agents_node_generation"))'), \(instance),
                now() + make_interval(secs => \(leaseSeconds)))
        ON CONFLICT (name) DO NOTHING RETURNING generation
        """, logger: logger)
      for try await generation in rows.decode(Int64.self) { return generation }
      return nil
    }
  }

  /// Renews the lease; false when this generation is no longer a member (fenced: another node
  /// removed it once its lease was over). A lease that ran out while no node could remove it (the
  /// database was away from every node) is renewed.
  func renew(generation: Int64) async throws -> Bool {
    let rows = try await client.query(
      """
      UPDATE \(unescaped: schema.table("agents_nodes")) SET lease_expires_at = now() + make_interval(secs => \(leaseSeconds))
      WHERE name = \(configuration.nodeName) AND generation = \(generation) RETURNING generation
      """, logger: logger)
    for try await _ in rows.decode(Int64.self) { return true }
    return false
  }

  /// Deletes the other nodes whose lease has expired: their types, subscriptions and placements go
  /// too. Never this node's own row (whose lease it has just renewed): a node leaves, or is
  /// removed by another.
  func reapExpiredNodes() async throws {
    let rows = try await client.query(
      """
      DELETE FROM \(unescaped: schema.table("agents_nodes")) WHERE lease_expires_at < now() AND name <> \(configuration.nodeName)
      RETURNING name, generation
      """,
      logger: logger)
    for try await (name, generation) in rows.decode((String, Int64).self) {
      logger.notice("node's lease expired: removed from the cluster", metadata: ["node": "\(name)", "generation": "\(generation)"])
    }
  }

  /// Leaves the cluster (graceful shutdown): the node's row and everything it held go at once.
  func leave() async {
    state.withLock { $0.membership = .stopped }
    updates.yield(())
    do {
      // The pool still runs: it shuts down after the directory (see ``ClusterDirectory/pool``).
      _ = try await client.query(
        "DELETE FROM \(unescaped: schema.table("agents_nodes")) WHERE name = \(configuration.nodeName) AND instance = \(instance)",
        logger: logger)
      logger.info("left the cluster", metadata: ["node": "\(configuration.nodeName)"])
    } catch {
      logger.warning("could not leave the cluster; its lease will expire", metadata: ["error": "\(Self.describe(error))"])
    }
  }

  /// The generation this node is a member under, or an error saying why it is not.
  func currentGeneration() throws(AgentRuntimeError) -> Int64 {
    let membership = state.withLock { $0.membership }
    guard case .member(let generation) = membership else {
      throw AgentRuntimeError(code: .unavailable, message: "node '\(configuration.nodeName)' is not a member of the cluster (\(problem ?? "joining"))")
    }
    return generation
  }
}
