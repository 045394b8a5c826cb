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
  /// The UTF-8 lengths of the keys of `prefixes`, with how many keys have each: matching a topic
  /// looks up its prefixes of these lengths, so its cost grows with the number of distinct
  /// lengths, not with the number of prefix subscriptions (AutoGen workers add one per agent type).
  private var prefixLengths: [Int: Int] = [:]

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
    case .typePrefix(let prefix):
      if prefixes[prefix] == nil { prefixLengths[prefix.utf8.count, default: 0] += 1 }
      prefixes[prefix, default: [:]][subscription.agentType, default: 0] += 1
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
    case .typePrefix(let prefix):
      release(&prefixes, prefix)
      if prefixes[prefix] == nil {
        prefixLengths[prefix.utf8.count]! -= 1
        if prefixLengths[prefix.utf8.count] == 0 { prefixLengths[prefix.utf8.count] = nil }
      }
    }
    return subscription
  }

  /// Removes every subscription `owner` added.
  mutating func removeAll(ownedBy owner: String) -> [Subscription] {
    let ids = byId.filter { $0.value.owner == owner }.map(\.key)
    return ids.compactMap { id in try? remove(id: id) }
  }

  /// The distinct agent types subscribed to `topic`, sorted by name.
  ///
  /// A prefix matches when the topic type's UTF-8 bytes start with it, as Python's `startswith`
  /// does for AutoGen.
  func agentTypes(matching topic: TopicId) -> [AgentType] {
    var types: [AgentType] = exact[topic.type].map { Array($0.keys) } ?? []
    var needsDeduplication = false
    let utf8 = topic.type.utf8
    for length in prefixLengths.keys where length <= utf8.count {
      // A cut inside a multi-byte scalar decodes to U+FFFD, which no valid prefix contains.
      guard let prefixTypes = prefixes[String(decoding: utf8.prefix(length), as: UTF8.self)] else { continue }
      needsDeduplication = needsDeduplication || !types.isEmpty
      types.append(contentsOf: prefixTypes.keys)
    }
    if needsDeduplication { types = Array(Set(types)) }
    if types.count > 1 { types.sort() }
    return types
  }
}
