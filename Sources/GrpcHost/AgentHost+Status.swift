public import AgentCore

extension AgentHost {
  /// What the host serves at one moment: its workers, agent types and subscriptions.
  public struct Status: Sendable, Equatable {
    /// Connected workers (the gateway's internal caller is not counted).
    public var connectedWorkers: Int
    /// Each registered agent type and how many workers serve it.
    public var agentTypes: [AgentType: Int]
    /// Subscriptions across all workers.
    public var subscriptions: Int
    /// RPCs waiting for their response.
    public var pendingRPCs: Int
    /// Agent instances placed on a worker.
    public var placedAgents: Int
  }

  /// The host's status now.
  public var status: Status {
    let snapshot = router.snapshot
    return Status(
      connectedWorkers: snapshot.connectedWorkers,
      agentTypes: snapshot.registeredTypes.mapValues(\.count),
      subscriptions: snapshot.subscriptions,
      pendingRPCs: snapshot.pendingRPCs,
      placedAgents: snapshot.placements.count)
  }

  /// The status now, then again after each change to connections, registrations or
  /// subscriptions (not per message; a slow reader sees the latest). The stream ends when its
  /// consumer stops iterating.
  public func statusUpdates() -> some AsyncSequence<Status, Never> & Sendable {
    router.changes.subscribe(startingWith: ()).map { @Sendable [self] in self.status }
  }
}
