import AgentCore

/// The host's subscriptions, owned by the workers that added them, indexed for fast matching.
///
/// Unlike a worker's ``SubscriptionSet``, two *different* workers may add the same subscription
/// content (agent type and filter) under different ids: that is how several workers serve one
/// agent type. One worker adding the same content twice, or any id used twice, is a duplicate.
struct SubscriptionIndex {
  private struct Entry {
    var subscription: Subscription
    var owner: String
  }

  private struct ContentKey: Hashable {
    var filter: TopicFilter
    var agentType: AgentType
  }

  private var byId: [String: Entry] = [:]
  private var idsByContent: [ContentKey: Set<String>] = [:]
  /// Exact topic type -> agent types with a type subscription for it (with reference counts).
  private var exact: [String: [AgentType: Int]] = [:]
  /// Prefix -> agent types with a prefix subscription for it (with reference counts).
  private var prefixes: [String: [AgentType: Int]] = [:]

  var all: [Subscription] { byId.values.map(\.subscription).sorted { $0.id < $1.id } }
  var count: Int { byId.count }

  /// Adds `subscription` for `owner`.
  mutating func add(_ subscription: Subscription, owner: String) throws(AgentRuntimeError) {
    if byId[subscription.id] != nil {
      throw AgentRuntimeError(code: .alreadyExists, message: "subscription id '\(subscription.id)' already exists")
    }
    let key = ContentKey(filter: subscription.filter, agentType: subscription.agentType)
    if let ids = idsByContent[key], let sameOwner = ids.first(where: { byId[$0]?.owner == owner }) {
      throw AgentRuntimeError(
        code: .alreadyExists,
        message: "\(subscription) already exists as subscription '\(sameOwner)'")
    }
    byId[subscription.id] = Entry(subscription: subscription, owner: owner)
    idsByContent[key, default: []].insert(subscription.id)
    switch subscription.filter {
    case .type(let type): exact[type, default: [:]][subscription.agentType, default: 0] += 1
    case .typePrefix(let prefix): prefixes[prefix, default: [:]][subscription.agentType, default: 0] += 1
    }
  }

  /// Removes the subscription with `id`.
  @discardableResult
  mutating func remove(id: String) throws(AgentRuntimeError) -> Subscription {
    guard let entry = byId.removeValue(forKey: id) else {
      throw AgentRuntimeError(code: .notFound, message: "subscription '\(id)' not found")
    }
    let subscription = entry.subscription
    let key = ContentKey(filter: subscription.filter, agentType: subscription.agentType)
    idsByContent[key]?.remove(id)
    if idsByContent[key]?.isEmpty == true { idsByContent[key] = nil }
    func release(_ table: inout [String: [AgentType: Int]], _ pattern: String) {
      table[pattern]?[subscription.agentType, default: 1] -= 1
      if table[pattern]?[subscription.agentType] == 0 { table[pattern]?[subscription.agentType] = nil }
      if table[pattern]?.isEmpty == true { table[pattern] = nil }
    }
    switch subscription.filter {
    case .type(let type): release(&exact, type)
    case .typePrefix(let prefix): release(&prefixes, prefix)
    }
    return subscription
  }

  /// Removes every subscription `owner` added.
  mutating func removeAll(ownedBy owner: String) -> [Subscription] {
    let ids = byId.filter { $0.value.owner == owner }.map(\.key)
    return ids.compactMap { id in try? remove(id: id) }
  }

  /// The distinct agent types subscribed to `topic`, sorted by name.
  func agentTypes(matching topic: TopicId) -> [AgentType] {
    var types = Set<AgentType>()
    if let exactTypes = exact[topic.type] { types.formUnion(exactTypes.keys) }
    for (prefix, prefixTypes) in prefixes where topic.type.hasPrefix(prefix) {
      types.formUnion(prefixTypes.keys)
    }
    return types.sorted()
  }
}
