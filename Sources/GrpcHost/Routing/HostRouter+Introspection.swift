import AgentCore
import AgentWire
import Foundation
import GRPCCore
import Logging
import SwiftProtobuf
import Synchronization

extension HostRouter {
  // MARK: Introspection (for tests and metrics)

  func notifyWatchers() {
    changes.yield(())
  }

  struct Snapshot: Sendable {
    var connectedClients: Set<String>
    var controlClients: Set<String>
    var connectedWorkers: Int { connectedClients.count }
    var registeredTypes: [AgentType: [String]]
    var subscriptions: Int
    var pendingRPCs: Int
    var placements: [AgentId: String]
    var tapReaders: Int = 0
    /// Other nodes of the cluster this node has a link to.
    var linkedPeers: Int = 0
  }

  var snapshot: Snapshot {
    state.withLock { state in
      Snapshot(
        connectedClients: Set(state.channels.values.filter { $0.peerNode == nil }.map(\.clientId)).subtracting([Gateway.clientId]),
        controlClients: Set(state.controls.keys),
        registeredTypes: state.placement.workersByType,
        subscriptions: state.subscriptions.count,
        pendingRPCs: state.pending.count,
        placements: state.placement.placements,
        tapReaders: tap.openReaders, linkedPeers: state.peers.count)
    }
  }
}

extension HostRouter {
  // MARK: Introspection (for the gateway's listings and the console)

  /// One served agent type.
  struct AgentTypeSummary: Sendable {
    var type: AgentType
    /// Connected workers serving it.
    var workers: Int
    var subscriptions: [Subscription]
    /// Instances placed on its workers.
    var instances: Int
    /// Its recent calls.
    var calls: CallStats
    /// In a cluster: the nodes whose workers serve it.
    var nodes: [String] = []
  }

  /// Every served agent type, by name.
  var agentTypes: [AgentTypeSummary] {
    state.withLock { state in
      // In a cluster, other nodes' subscriptions too.
      let remote = state.cluster.map { $0.remoteSubscriptions.all } ?? []
      let subscriptions = Dictionary(grouping: state.subscriptions.all + remote, by: \.agentType)
      var instances: [AgentType: Int] = [:]
      for id in state.placement.placements.keys { instances[id.type, default: 0] += 1 }
      var types = Set(state.placement.workersByType.keys)
      if let cluster = state.cluster {
        for served in cluster.cache.types.values { types.formUnion(served.compactMap { try? AgentType($0) }) }
      }
      return types.sorted().map { type in
        var nodes: [String] = []
        if let cluster = state.cluster {
          nodes = cluster.cache.nodes(serving: type.name).filter { $0 != cluster.nodeName }
          if state.placement.serves(type) { nodes.append(cluster.nodeName) }
          nodes.sort()
        }
        return AgentTypeSummary(
          type: type, workers: state.placement.workersByType[type]?.filter { state.channels[$0] != nil }.count ?? 0,
          subscriptions: subscriptions[type] ?? [], instances: instances[type] ?? 0, calls: state.callStats[type] ?? CallStats(),
          nodes: nodes)
      }
    }
  }

  /// One connected worker (as `GET /v1/workers` lists it).
  struct WorkerSummary: Sendable, Encodable {
    var clientId: String
    var address: String
    var identity: String
    var connectedAt: Date
    var types: [String]
    /// Agent instances placed on it.
    var instances: Int
    /// Frames it sent, and was sent.
    var messagesIn: Int
    var messagesOut: Int
  }

  /// The connected workers (the gateway's internal caller aside), by client id.
  var workers: [WorkerSummary] {
    state.withLock { state in
      state.channels.values.filter { $0.clientId != Gateway.clientId && $0.peerNode == nil }.sorted { $0.clientId < $1.clientId }.map { link in
        WorkerSummary(
          clientId: link.clientId, address: link.address, identity: link.identity.name, connectedAt: link.connectedAt,
          types: state.placement.types(servedBy: link.clientId).map(\.name).sorted(), instances: state.placement.instances(placedOn: link.clientId),
          messagesIn: link.framesIn.load(ordering: .relaxed), messagesOut: link.framesOut.load(ordering: .relaxed))
      }
    }
  }

  /// Whether the worker with `clientId` has registered `type` (and is still connected).
  func serves(_ type: AgentType, clientId: String) -> Bool {
    state.withLock { $0.placement.types(servedBy: clientId).contains(type) }
  }
}

extension HostRouter {
  /// Calls finished and failed, over every agent type, since the host started.
  var callTotals: (calls: Int, errors: Int) {
    state.withLock { state in
      state.callStats.values.reduce(into: (calls: 0, errors: 0)) { totals, stats in
        totals.calls += stats.calls
        totals.errors += stats.errors
      }
    }
  }
}
