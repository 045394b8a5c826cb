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
  }

  var snapshot: Snapshot {
    state.withLock { state in
      Snapshot(
        connectedClients: Set(state.channels.keys).subtracting([Gateway.clientId]),
        controlClients: Set(state.controls.keys),
        registeredTypes: state.placement.workersByType,
        subscriptions: state.subscriptions.count,
        pendingRPCs: state.pending.count,
        placements: state.placement.placements,
        tapReaders: tap.openReaders)
    }
  }
}

extension HostRouter {
  /// Whether the worker with `clientId` has registered `type` (and is still connected).
  func serves(_ type: AgentType, clientId: String) -> Bool {
    state.withLock { $0.placement.types(servedBy: clientId).contains(type) }
  }
}
