public import Foundation

/// Which topics a subscription matches.
public enum TopicFilter: Hashable, Sendable, CustomStringConvertible {
  /// Topics whose type equals the given type.
  case type(String)
  /// Topics whose type starts with the given prefix (compared as UTF-8 bytes, as Python's
  /// `str.startswith` compares code points).
  case typePrefix(String)

  /// The default topic type, `"default"`: what AutoGen's `default_subscription` matches.
  public static let defaultTopic = TopicFilter.type(TopicId.defaultType)

  /// Whether `topic` passes this filter.
  public func matches(_ topic: TopicId) -> Bool {
    switch self {
    case .type(let type): return topic.type == type
    case .typePrefix(let prefix): return topic.type.utf8.starts(with: prefix.utf8)
    }
  }

  public var description: String {
    switch self {
    case .type(let type): return "type '\(type)'"
    case .typePrefix(let prefix): return "type prefix '\(prefix)'"
    }
  }
}

/// Routes published messages to agents of one type.
///
/// A subscription matches a topic by its ``filter`` and maps it to the agent instance
/// `AgentId(agentType, topic.source)`: the topic source picks the instance.
///
/// ```swift
/// // Every "chat" topic goes to the "assistant" instance keyed by the topic source.
/// let subscription = Subscription(filter: .type("chat"), agentType: AgentType("assistant"))
/// ```
public struct Subscription: Hashable, Sendable, CustomStringConvertible {
  /// A unique id (a UUID unless given), used to remove the subscription.
  public let id: String
  /// Which topics match.
  public let filter: TopicFilter
  /// The type of agent that receives matching messages.
  public let agentType: AgentType

  /// Creates a subscription.
  ///
  /// - Throws: ``AgentRuntimeError/Code/invalidArgument`` when the filter's topic type (or prefix)
  ///   has characters outside the topic type rule.
  public init(
    id: String = UUID().uuidString,
    filter: TopicFilter,
    agentType: AgentType
  ) throws(AgentRuntimeError) {
    switch filter {
    case .type(let type):
      try IdentifierRule.topicType.validate(type, what: "subscription topic type")
    case .typePrefix(let prefix):
      try IdentifierRule.topicType.validate(prefix, what: "subscription topic type prefix")
    }
    self.id = id
    self.filter = filter
    self.agentType = agentType
  }

  /// The default subscription for `agentType`: topic type `"default"`.
  public static func defaultSubscription(for agentType: AgentType) -> Subscription {
    Subscription(uncheckedId: UUID().uuidString, filter: .defaultTopic, agentType: agentType)
  }

  /// The subscription that routes direct messages for `agentType`: type prefix `"<type>:"`, as
  /// AutoGen's worker registers it.
  public static func directMessages(for agentType: AgentType) -> Subscription {
    Subscription(
      uncheckedId: UUID().uuidString,
      filter: .typePrefix(agentType.name + ":"),
      agentType: agentType
    )
  }

  package init(uncheckedId id: String, filter: TopicFilter, agentType: AgentType) {
    self.id = id
    self.filter = filter
    self.agentType = agentType
  }

  /// Whether `topic` matches.
  public func matches(_ topic: TopicId) -> Bool {
    filter.matches(topic)
  }

  /// The agent that receives a message published to `topic`: `AgentId(agentType, topic.source)`.
  ///
  /// Call this only for a topic that ``matches(_:)``.
  public func recipient(for topic: TopicId) -> AgentId {
    AgentId(type: agentType, key: topic.source)
  }

  /// Whether `other` duplicates this subscription as AutoGen defines it: the same id, or the same
  /// agent type and filter.
  public func isDuplicate(of other: Subscription) -> Bool {
    id == other.id || (agentType == other.agentType && filter == other.filter)
  }

  public var description: String {
    "subscription \(id) (\(filter) -> agent type '\(agentType)')"
  }
}

extension Sequence<TopicFilter> {
  /// The class-level subscriptions of `agentType`: one per filter, each with a new id.
  package func subscriptions(for agentType: AgentType) throws(AgentRuntimeError) -> [Subscription] {
    var subscriptions: [Subscription] = []
    for filter in self { subscriptions.append(try Subscription(filter: filter, agentType: agentType)) }
    return subscriptions
  }
}
