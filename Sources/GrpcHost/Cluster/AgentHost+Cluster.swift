import AgentCore

extension AgentHost {
  /// One node of the cluster, as this node sees it.
  public struct ClusterNodeStatus: Sendable, Equatable, Encodable {
    public var name: String
    /// Where the nodes reach its gRPC port.
    public var address: String
    /// Raised each time it joins.
    public var generation: Int64
    /// The agent types its workers serve, by name.
    public var agentTypes: [String]
    /// This node itself.
    public var isSelf: Bool
    /// Whether this node has a link to it (always false for itself).
    public var linked: Bool
    /// Whether its gateway has topic readers (SSE, `Subscribe`): it is then sent every publish.
    public var watching: Bool
  }

  /// The cluster as this node sees it.
  public struct ClusterStatus: Sendable, Equatable, Encodable {
    /// This node's name.
    public var node: String
    /// The members the directory lists, by name.
    public var nodes: [ClusterNodeStatus]
    /// Agent instances placed in the directory, across the cluster, as this node knows them.
    public var placements: Int
    /// Why this node is not a healthy member, if it is not (the directory is unreachable, the
    /// node was fenced, it is still joining).
    public var problem: String?
  }

  /// The cluster as this node sees it now; nil for a host that is not a node of a cluster.
  public var clusterStatus: ClusterStatus? {
    guard let cluster = configuration.cluster else { return nil }
    let directory = cluster.directory
    let cache = directory.cache
    let linked = router.linkedPeers
    return ClusterStatus(
      node: directory.nodeName,
      nodes: cache.nodes.values.sorted { $0.name < $1.name }.map { node in
        ClusterNodeStatus(
          name: node.name, address: node.address, generation: node.generation,
          agentTypes: (cache.types[node.name] ?? []).filter { $0 != ClusterRoutes.watchingMarker }.sorted(),
          isSelf: node.name == directory.nodeName,
          linked: linked.contains(node.name),
          watching: cache.types[node.name]?.contains(ClusterRoutes.watchingMarker) ?? false)
      },
      placements: cache.placements.count,
      problem: directory.problem)
  }

  /// The cluster status now, then after each change to the directory or to this node's links
  /// (a slow reader sees the latest). Nil elements for a host that is not a node of a cluster.
  public func clusterStatusUpdates() -> some AsyncSequence<ClusterStatus?, Never> & Sendable {
    router.changes.subscribe(startingWith: ()).map { @Sendable [self] in self.clusterStatus }
  }
}
