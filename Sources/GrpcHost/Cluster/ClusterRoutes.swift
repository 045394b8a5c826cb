import AgentCore

/// Where a message for an agent instance goes across the cluster, as this node decides it: a pure
/// value over the directory's cache (its nodes, types and subscriptions; placements are looked up
/// in the directory per message, so that none is copied), tested without a transport or a database.
///
/// An instance placed in the directory goes to its owner. An unplaced one goes to the node that
/// rendezvous hashing picks among the nodes serving its type (so that instances spread across
/// nodes, and every node picks the same one from the same cache), and that node claims it in the
/// directory before delivering; the claim, decided by the database, is what makes it sticky.
/// A message that came from a peer node is never passed on by hashing, only to an owner the
/// directory recorded: two nodes whose caches disagree cannot send a message back and forth.
struct ClusterRoutes {
  enum Destination: Equatable {
    /// This node holds the instance: one of its workers.
    case local
    /// Another node holds it, or should claim it.
    case node(String)
    /// Nobody holds it: this node claims it in the directory first.
    case claim
    /// No node serves the type.
    case nowhere
  }

  /// Recorded among a node's types while its gateway has topic readers (SSE, `Subscribe`): every
  /// publish is then sent to it, so that its readers see the whole cluster's. Not a valid agent
  /// type name, so it never matches one.
  static let watchingMarker = "$watching"

  let nodeName: String
  private(set) var cache = DirectoryCache()
  /// Other nodes whose gateways have topic readers.
  private(set) var watchingNodes: [String] = []
  /// Subscriptions made on other nodes (by node name).
  private(set) var remoteSubscriptions = SubscriptionIndex()

  init(nodeName: String) {
    self.nodeName = nodeName
  }

  /// Takes the directory's latest cache (its placements, if any, are not kept).
  mutating func update(_ cache: DirectoryCache) {
    let cache = cache.withoutPlacements()
    if cache.subscriptions != self.cache.subscriptions {
      var index = SubscriptionIndex()
      for subscription in cache.subscriptions.values where subscription.node != nodeName {
        guard let parsed = subscription.subscription else { continue }
        try? index.add(parsed, owner: subscription.node)
      }
      remoteSubscriptions = index
    }
    self.cache = cache
    watchingNodes = cache.types.compactMap { node, types in
      node != nodeName && types.contains(Self.watchingMarker) && cache.nodes[node] != nil ? node : nil
    }.sorted()
  }

  /// Where a message for `id` goes; `owner` is the node the directory records for it, `servedHere`
  /// says whether a worker of this node serves its type, `fromPeer` whether the message came from
  /// another node, `isLinked` whether this node has a link to a node (hashing picks among linked
  /// nodes only: a node that died goes out of the choice at once, before its lease ends).
  func destination(
    of id: AgentId, owner: String?, servedHere: Bool, fromPeer: Bool, isLinked: (String) -> Bool = { _ in true }
  ) -> Destination {
    if let owner {
      return owner == nodeName ? .local : .node(owner)
    }
    if fromPeer { return servedHere ? .claim : .nowhere }
    var candidates = cache.nodes(serving: id.type.name).filter { $0 != nodeName && isLinked($0) }
    if servedHere { candidates.append(nodeName) }
    guard let chosen = Self.rendezvous(candidates, id) else { return .nowhere }
    return chosen == nodeName ? .claim : .node(chosen)
  }

  /// The agent types subscribed on other nodes to `topic`.
  func remoteTypes(matching topic: TopicId) -> [AgentType] {
    remoteSubscriptions.agentTypes(matching: topic)
  }

  /// The node other than this one that made subscription `id`, if any.
  func remoteOwner(ofSubscription id: String) -> String? {
    cache.subscriptions[id].flatMap { $0.node == nodeName ? nil : $0.node }
  }

  /// The node with the highest score for `id` (highest random weight): removing a node moves
  /// only the instances it would have held.
  static func rendezvous(_ nodes: [String], _ id: AgentId) -> String? {
    nodes.max { score($0, id) < score($1, id) || (score($0, id) == score($1, id) && $0 > $1) }
  }

  /// FNV-1a over the node, type and key: stable across processes (Swift's `Hasher` is seeded per
  /// process), which every node must agree on.
  static func score(_ node: String, _ id: AgentId) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for part in [node, id.type.name, id.key] {
      for byte in part.utf8 {
        hash ^= UInt64(byte)
        hash = hash &* 0x100_0000_01b3
      }
      hash ^= 0xff
      hash = hash &* 0x100_0000_01b3
    }
    // A final mix, so that names differing in one letter do not score alike.
    hash ^= hash >> 33
    hash = hash &* 0xff51_afd7_ed55_8ccd
    hash ^= hash >> 33
    return hash
  }
}

extension ClusterSubscription {
  /// As a subscription the router can match; nil for a kind or name it does not know.
  var subscription: Subscription? {
    guard let type = try? AgentType(agentType) else { return nil }
    switch kind {
    case "type": return try? Subscription(id: id, filter: .type(topic), agentType: type)
    case "prefix": return try? Subscription(id: id, filter: .typePrefix(topic), agentType: type)
    default: return nil
    }
  }

  /// The kind and topic the directory records for `subscription`.
  static func fields(of subscription: Subscription) -> (kind: String, topic: String) {
    switch subscription.filter {
    case .type(let type): ("type", type)
    case .typePrefix(let prefix): ("prefix", prefix)
    }
  }
}
