/// A set of subscriptions with AutoGen's duplicate rules and topic matching.
///
/// Both the in-process runtime and the host keep their subscriptions in one of these.
public struct SubscriptionSet: Sendable {
  private var byId: [String: Subscription] = [:]
  /// Insertion order, so matching results are deterministic.
  private var order: [String] = []

  public init() {}

  /// Every subscription, in the order added.
  public var all: [Subscription] { order.compactMap { byId[$0] } }

  /// How many subscriptions there are.
  public var count: Int { byId.count }

  /// The subscription with `id`, if any.
  public subscript(id id: String) -> Subscription? { byId[id] }

  /// Adds `subscription`.
  ///
  /// - Throws: ``AgentRuntimeError/Code/alreadyExists`` when it duplicates one already here (same
  ///   id, or same agent type and filter).
  public mutating func add(_ subscription: Subscription) throws(AgentRuntimeError) {
    if let existing = duplicate(of: subscription) {
      throw AgentRuntimeError(
        code: .alreadyExists,
        message: "\(subscription) already exists as \(existing)"
      )
    }
    byId[subscription.id] = subscription
    order.append(subscription.id)
  }

  /// The subscription that `subscription` duplicates, if any.
  public func duplicate(of subscription: Subscription) -> Subscription? {
    if let same = byId[subscription.id] { return same }
    return byId.values.first { $0.isDuplicate(of: subscription) }
  }

  /// Removes the subscription with `id` and returns it.
  ///
  /// - Throws: ``AgentRuntimeError/Code/notFound`` naming the id when there is none.
  @discardableResult
  public mutating func remove(id: String) throws(AgentRuntimeError) -> Subscription {
    guard let removed = byId.removeValue(forKey: id) else {
      throw AgentRuntimeError(code: .notFound, message: "subscription '\(id)' does not exist")
    }
    order.removeAll { $0 == id }
    return removed
  }

  /// Removes every subscription for which `predicate` is true and returns them.
  @discardableResult
  public mutating func removeAll(where predicate: (Subscription) -> Bool) -> [Subscription] {
    let removed = all.filter(predicate)
    guard !removed.isEmpty else { return [] }
    for subscription in removed { byId[subscription.id] = nil }
    order.removeAll { byId[$0] == nil }
    return removed
  }

  /// The subscriptions that match `topic`.
  public func matching(_ topic: TopicId) -> [Subscription] {
    all.filter { $0.matches(topic) }
  }

  /// The agent instances a message published to `topic` reaches: one per matching agent type
  /// (overlapping subscriptions do not deliver twice), in the order the subscriptions were added.
  public func recipients(for topic: TopicId) -> [AgentId] {
    agentTypes(matching: topic).map { AgentId(type: $0, key: topic.source) }
  }

  /// The distinct agent types with a subscription matching `topic`, in the order added.
  public func agentTypes(matching topic: TopicId) -> [AgentType] {
    var seen = Set<AgentType>()
    var types: [AgentType] = []
    for id in order {
      guard let subscription = byId[id], subscription.matches(topic) else { continue }
      if seen.insert(subscription.agentType).inserted {
        types.append(subscription.agentType)
      }
    }
    return types
  }
}
