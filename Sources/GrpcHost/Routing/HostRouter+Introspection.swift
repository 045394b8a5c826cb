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
    for watcher in watchers.withLock({ Array($0.values) }) { watcher.yield() }
  }

  /// Waits until `predicate` holds for the routing state, re-checking after every change to
  /// connections, registrations and subscriptions. Returns false after `timeout`.
  func waitUntil(timeout: Duration, _ predicate: @escaping @Sendable (Snapshot) -> Bool) async -> Bool {
    let id = nextWatcher.add(1, ordering: .relaxed).newValue
    let (changes, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    watchers.withLock { $0[id] = continuation }
    defer { watchers.withLock { $0[id] = nil } }
    continuation.yield()  // check the current state first
    return await withTaskGroup(of: Bool.self) { group in
      group.addTask {
        for await _ in changes where predicate(self.snapshot) { return true }
        return false
      }
      group.addTask {
        try? await Task.sleep(for: timeout)
        return false
      }
      let result = await group.next()!
      group.cancelAll()
      continuation.finish()
      return result
    }
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
