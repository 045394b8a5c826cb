public import AgentCore

/// One host replica, as the directory knows it.
public struct ClusterNode: Sendable, Hashable, Codable {
  /// The node's name (`--node-name`), unique in the cluster.
  public var name: String
  /// Where peers reach the node's gRPC port, `HOST:PORT`.
  public var address: String
  /// Raised each time the node joins: a node's writes carry it, and the database refuses those of
  /// an older generation (fencing).
  public var generation: Int64

  public init(name: String, address: String, generation: Int64) {
    self.name = name
    self.address = address
    self.generation = generation
  }
}

/// A subscription as the cluster holds it: whose it is, and what it matches.
public struct ClusterSubscription: Sendable, Hashable, Codable {
  public var id: String
  /// The node whose worker made it.
  public var node: String
  /// `type` (exact topic type) or `prefix`.
  public var kind: String
  public var topic: String
  public var agentType: String

  public init(id: String, node: String, kind: String, topic: String, agentType: String) {
    self.id = id
    self.node = node
    self.kind = kind
    self.topic = topic
    self.agentType = agentType
  }
}

/// What a node knows of the shared directory: the cluster's nodes, which agent types each
/// serves, the subscriptions, and where agent instances are placed.
///
/// A pure value: the directory replaces it with a full read of the database
/// (`HostCluster`'s `ClusterDirectory` does so when it starts listening and periodically) and applies each
/// change it is notified of in between. Applying a change is idempotent, and a change that
/// arrives for a generation older than the one known is ignored, so a late notification cannot
/// bring back what was replaced.
public struct DirectoryCache: Sendable, Equatable {
  public struct PlacementKey: Sendable, Hashable {
    public var agentType: String
    public var key: String

    public init(agentType: String, key: String) {
      self.agentType = agentType
      self.key = key
    }
  }

  public struct Placement: Sendable, Equatable {
    public var node: String
    public var generation: Int64

    public init(node: String, generation: Int64) {
      self.node = node
      self.generation = generation
    }
  }

  public private(set) var nodes: [String: ClusterNode] = [:]
  /// Agent types by the node serving them.
  public private(set) var types: [String: Set<String>] = [:]
  public private(set) var placements: [PlacementKey: Placement] = [:]
  public private(set) var subscriptions: [String: ClusterSubscription] = [:]

  public init() {}

  /// The node that holds `id`, if it is placed on a node the cache knows.
  public func owner(of id: AgentId) -> String? {
    placements[PlacementKey(agentType: id.type.name, key: id.key)].flatMap { nodes[$0.node] != nil ? $0.node : nil }
  }

  /// This cache without its placements (cheap: it drops its reference to them). What a router
  /// keeps, so that applying a placement to the directory's own cache never copies them all.
  public func withoutPlacements() -> DirectoryCache {
    var copy = self
    copy.placements = [:]
    return copy
  }

  /// The nodes serving `type`, by name.
  public func nodes(serving type: String) -> [String] {
    types.filter { $0.value.contains(type) && nodes[$0.key] != nil }.map(\.key).sorted()
  }

  /// One change, as the database notifies it.
  public enum Change: Sendable, Equatable {
    case nodeJoined(ClusterNode)
    case nodeLeft(name: String, generation: Int64)
    case typeAdded(node: String, agentType: String)
    case typeRemoved(node: String, agentType: String)
    case placed(PlacementKey, node: String, generation: Int64)
    case unplaced(PlacementKey, node: String, generation: Int64)
    case subscribed(ClusterSubscription)
    case unsubscribed(id: String)
  }

  /// Applies one change.
  public mutating func apply(_ change: Change) {
    switch change {
    case .nodeJoined(let node):
      if let known = nodes[node.name], known.generation > node.generation { return }
      if let known = nodes[node.name], known.generation < node.generation { forget(node: node.name) }
      nodes[node.name] = node
    case .nodeLeft(let name, let generation):
      guard let known = nodes[name], known.generation <= generation else { return }
      forget(node: name)
    case .typeAdded(let node, let agentType):
      types[node, default: []].insert(agentType)
    case .typeRemoved(let node, let agentType):
      types[node]?.remove(agentType)
      if types[node]?.isEmpty == true { types[node] = nil }
    case .placed(let key, let node, let generation):
      placements[key] = Placement(node: node, generation: generation)
    case .unplaced(let key, let node, let generation):
      if placements[key] == Placement(node: node, generation: generation) { placements[key] = nil }
    case .subscribed(let subscription):
      subscriptions[subscription.id] = subscription
    case .unsubscribed(let id):
      subscriptions[id] = nil
    }
  }

  /// Everything known about `node` goes: it left, or it joined again as a new generation.
  private mutating func forget(node: String) {
    nodes[node] = nil
    types[node] = nil
    placements = placements.filter { $0.value.node != node }
    subscriptions = subscriptions.filter { $0.value.node != node }
  }

  /// A cache holding exactly what a full read returned.
  public static func snapshot(
    nodes: [ClusterNode], types: [(node: String, agentType: String)],
    placements: [(PlacementKey, Placement)], subscriptions: [ClusterSubscription]
  ) -> DirectoryCache {
    var cache = DirectoryCache()
    for node in nodes { cache.nodes[node.name] = node }
    for (node, type) in types { cache.types[node, default: []].insert(type) }
    for (key, placement) in placements { cache.placements[key] = placement }
    for subscription in subscriptions { cache.subscriptions[subscription.id] = subscription }
    return cache
  }
}
