import AgentCore
import AgentWire
import Foundation
import Logging
import Prometheus
import Synchronization

/// What makes a host one node of a cluster, running beside its gRPC server (`AgentHost.serve`):
/// - it gives the router each new directory cache (placements, other nodes' types and
///   subscriptions);
/// - it keeps a link to every other node the directory lists (`ClusterMember+Links`), through
///   which the router reaches the instances those nodes hold;
/// - it writes to the directory what this node's workers serve and subscribe to, as they change;
/// - it claims, in the directory, the instances the router holds messages for.
///
/// It ends when the host stops (cancellation); the directory itself is run by its owner.
struct ClusterMember: Sendable {
  let cluster: AgentHost.Cluster
  let router: HostRouter
  let metrics: HostMetrics
  let logger: Logger
  /// Frames over this size are refused by the links' transport (as by the host's).
  let maxMessageSize: Int
  /// The TLS settings of this node's listener: links present its certificate to peers.
  let tls: AgentHost.TLS?

  var directory: any NodeDirectory { cluster.directory }

  func run() async {
    await withDiscardingTaskGroup { group in
      group.addTask { await self.writeLocalState() }
      group.addTask { await self.claimInstances() }
      // The links: one task per other node and generation, ended when its node leaves (or joins
      // again as another generation).
      var linked: [String: (generation: Int64, gone: OneShot<Void>)] = [:]
      var installed: (cache: DirectoryCache, problem: String?)?
      for await _ in directory.changes() {
        // A new placement changes nothing here (the router asks the directory for owners): only
        // members, their types and subscriptions are installed, and the membership reported.
        let (cache, problem) = (directory.routingCache, directory.problem)
        guard installed.map({ $0.cache != cache || $0.problem != problem }) ?? true else { continue }
        installed = (cache, problem)
        router.updateCluster(cache)
        for (name, link) in linked where cache.nodes[name]?.generation != link.generation {
          link.gone.resolve(.success(()))
          linked[name] = nil
        }
        for node in cache.nodes.values where node.name != directory.nodeName && linked[node.name] == nil {
          let gone = OneShot<Void>()
          linked[node.name] = (node.generation, gone)
          group.addTask { await self.maintainLink(to: node, until: gone) }
        }
      }
      for link in linked.values { link.gone.resolve(.success(())) }
    }
  }

  /// Writes this node's served types and subscriptions to the directory whenever they change
  /// here (retrying each second while the directory cannot take them).
  private func writeLocalState() async {
    var writtenTypes: Set<String> = []
    var writtenSubscriptions: [String: Subscription] = [:]
    var written = -1
    for await _ in router.changes.subscribe(startingWith: ()) {
      while !Task.isCancelled, router.localRevision != written {  // else another kind of change
        let (revision, types, subscriptions) = router.localDirectoryState
        do {
          if types != writtenTypes {
            try await directory.setServedTypes(types)
            writtenTypes = types
          }
          for (id, subscription) in subscriptions where writtenSubscriptions[id] == nil {
            let (kind, topic) = ClusterSubscription.fields(of: subscription)
            try await directory.subscribe(id: id, kind: kind, topic: topic, agentType: subscription.agentType.name)
            writtenSubscriptions[id] = subscription
          }
          for id in writtenSubscriptions.keys where subscriptions[id] == nil {
            try await directory.unsubscribe(id: id)
            writtenSubscriptions[id] = nil
          }
          written = revision
          break
        } catch {
          logger.warning("cannot write this node's types and subscriptions to the directory", metadata: ["error": "\(error)"])
          guard (try? await Task.sleep(for: .seconds(1))) != nil else { return }
        }
      }
    }
  }

  /// Claims each instance the router asks for, concurrently, and gives it the answer.
  private func claimInstances() async {
    await withDiscardingTaskGroup { group in
      for await id in router.claimRequests {
        group.addTask {
          let started = ContinuousClock.now
          do {
            let directory = self.directory
            let owner = try await withDeadline(
              cluster.claimTimeout,
              timeoutError: {
                AgentRuntimeError(
                  code: .unavailable,
                  message: "the cluster's directory did not place \(id) within \(cluster.claimTimeout.secondsDescription) (\(directory.problem ?? "slow"))")
              },
              cancelledError: { AgentRuntimeError(code: .cancelled, message: "the host is stopping") }
            ) { try await directory.claim(id) }
            metrics.claimLatency.record(.now - started)
            metrics.claimsPlaced.increment()
            router.claimed(id, .success(owner))
          } catch {
            metrics.claimsFailed.increment()
            router.claimed(id, .failure(
              error as? AgentRuntimeError
                ?? AgentRuntimeError(code: .unavailable, message: "the cluster's directory could not place \(id): \(error)", cause: error)))
          }
        }
      }
    }
  }
}

extension HostRouter {
  /// Raised by each change to what this node's workers serve and subscribe to.
  var localRevision: Int { state.withLock { $0.localRevision } }

  /// What this node's workers serve and subscribe to, as the directory records it (with the
  /// watching marker while its gateway has topic readers).
  var localDirectoryState: (revision: Int, types: Set<String>, subscriptions: [String: Subscription]) {
    let watching = tap.openReaders > 0
    return state.withLock { state in
      (
        state.localRevision,
        Set(state.placement.workersByType.keys.map(\.name) + (watching ? [ClusterRoutes.watchingMarker] : [])),
        Dictionary(uniqueKeysWithValues: state.subscriptions.all.map { ($0.id, $0) })
      )
    }
  }
}
