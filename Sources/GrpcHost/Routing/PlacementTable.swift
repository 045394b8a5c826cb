import AgentCore

/// Which workers serve each agent type, and which worker holds each agent instance.
///
/// A pure value: it knows worker client ids, not connections. The router asks it where an
/// instance lives (placing it on the least-loaded connected worker of its type the first time),
/// and tells it when a worker registers or leaves. A shared placement store for a cluster would
/// sit behind these same operations.
struct PlacementTable {
  /// Workers serving each type, in registration order (including ones with no channel yet).
  private(set) var workersByType: [AgentType: [String]] = [:]
  /// The owner of each placed instance.
  private(set) var placements: [AgentId: String] = [:]
  /// Per worker: the types it serves and the instances placed on it (the reverse index of the two
  /// tables above, kept here so that nothing else can let them drift apart).
  private var byWorker: [String: WorkerEntry] = [:]

  private struct WorkerEntry {
    var types: Set<AgentType> = []
    var placed: Set<AgentId> = []
    /// Instances placed on this worker, per type: the load that placement balances.
    var load: [AgentType: Int] = [:]
  }

  /// Records that `worker` serves `type`. Returns false when it already did.
  mutating func register(_ type: AgentType, worker: String) -> Bool {
    guard byWorker[worker, default: WorkerEntry()].types.insert(type).inserted else { return false }
    workersByType[type, default: []].append(worker)
    return true
  }

  /// Whether any worker serves `type`.
  func serves(_ type: AgentType) -> Bool {
    workersByType[type] != nil
  }

  /// The types `worker` serves.
  func types(servedBy worker: String) -> Set<AgentType> {
    byWorker[worker]?.types ?? []
  }

  /// How many instances are placed on `worker`.
  func instances(placedOn worker: String) -> Int {
    byWorker[worker]?.placed.count ?? 0
  }

  /// The worker that holds `id`: its current owner when `isConnected` says the owner is, else the
  /// connected worker serving `id.type` with the fewest instances of that type (the first
  /// registered on a tie), which then owns it. Nil when no connected worker serves the type.
  mutating func place(_ id: AgentId, isConnected: (String) -> Bool) -> String? {
    if let owner = placements[id], isConnected(owner) { return owner }
    guard let candidates = workersByType[id.type] else { return nil }
    var best: (worker: String, load: Int)?
    for worker in candidates where isConnected(worker) {
      let load = byWorker[worker]?.load[id.type] ?? 0
      if best == nil || load < best!.load { best = (worker, load) }
    }
    guard let chosen = best?.worker else { return nil }
    if let previous = placements[id] { unplace(id, from: previous) }
    placements[id] = chosen
    byWorker[chosen, default: WorkerEntry()].placed.insert(id)
    byWorker[chosen, default: WorkerEntry()].load[id.type, default: 0] += 1
    return chosen
  }

  /// Forgets `worker`: its types and the instances placed on it (they are placed afresh on their
  /// next message). Returns the types it served.
  mutating func remove(worker: String) -> Set<AgentType> {
    guard let entry = byWorker.removeValue(forKey: worker) else { return [] }
    for type in entry.types {
      workersByType[type]?.removeAll { $0 == worker }
      if workersByType[type]?.isEmpty == true { workersByType[type] = nil }
    }
    for id in entry.placed where placements[id] == worker { placements[id] = nil }
    return entry.types
  }

  private mutating func unplace(_ id: AgentId, from worker: String) {
    guard byWorker[worker]?.placed.remove(id) != nil else { return }
    byWorker[worker]?.load[id.type, default: 1] -= 1
  }
}
