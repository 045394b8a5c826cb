public import AgentCore

/// The cluster's shared directory as one node sees it and writes to it: what an ``AgentHost``
/// needs to be one node of a cluster (``AgentHost/Configuration/cluster``).
///
/// `HostCluster`'s `ClusterDirectory` keeps it in PostgreSQL. The host does not run the directory:
/// run it before the host in the same `ServiceGroup`, which shuts services down in reverse order,
/// so that the host stops (answering its callers) before the node leaves the cluster.
///
/// What the host does with it (see `ClusterMember`): it routes by ``cache`` (which node holds an
/// agent instance, which nodes serve a type, other nodes' subscriptions), keeps a link to every
/// node the cache lists, writes what its own workers serve and subscribe to, and asks ``claim(_:)``
/// before it places an instance that has no owner yet.
public protocol NodeDirectory: Sendable {
  /// This node's name, unique in the cluster.
  var nodeName: String { get }
  /// What the node knows of the directory now.
  var cache: DirectoryCache { get }
  /// ``cache`` without its placements (``DirectoryCache/withoutPlacements()``), taken so that
  /// applying a placement meanwhile never copies them all: what the router keeps.
  var routingCache: DirectoryCache { get }
  /// The node holding `id`, as ``cache`` records it (a live node), without copying the cache: the
  /// router asks for every message to an instance.
  func owner(of id: AgentId) -> String?
  /// Why the node is not a healthy member, if it is not: for `/healthz` and the health service.
  var problem: String? { get }
  /// Yields whenever ``cache`` or the node's membership changes (the latest only, when not read).
  func changes() -> AsyncStream<Void>
  /// Sets the agent types this node's workers serve.
  func setServedTypes(_ types: Set<String>) async throws
  /// Adds a subscription of this node's workers (`kind` is `type` or `prefix`).
  func subscribe(id: String, kind: String, topic: String, agentType: String) async throws
  /// Removes a subscription of this node's workers.
  func unsubscribe(id: String) async throws
  /// The node that holds `id`: the one already recorded, or this node, which claims it now. One
  /// owner per instance across the cluster. The answer is in ``cache`` when this returns.
  ///
  /// - Throws: `AgentRuntimeError` (unavailable) when the directory cannot decide (the database
  ///   is unreachable, or this node is not a member).
  func claim(_ id: AgentId) async throws -> String
}
