/// Names a topic that messages are published to: a topic type and a source.
///
/// The type follows AutoGen's rule `^[\w\-\.\:\=]+$`; the source is free text. Subscriptions
/// match on the type; the source becomes the key of the agent instance that receives the message.
///
/// ```swift
/// try await runtime.publish(ChatMessage(text: "hi"), to: TopicId(type: "chat", source: "room-42"))
/// ```
public struct TopicId: Hashable, Sendable, CustomStringConvertible, Codable {
  /// The topic type, which subscriptions match on.
  public let type: String
  /// The topic source, which becomes the receiving agent's key.
  public let source: String

  /// The type of the default topic, `"default"`.
  public static let defaultType = "default"

  /// Creates a topic id, validating its type.
  ///
  /// - Throws: ``AgentRuntimeError/Code/invalidArgument`` when `type` breaks the topic type rule.
  public init(type: String, source: String) throws(AgentRuntimeError) {
    try IdentifierRule.topicType.validate(type, what: "topic type")
    self.type = type
    self.source = source
  }

  package init(uncheckedType type: String, source: String) {
    self.type = type
    self.source = source
  }

  /// The default topic: type `"default"`, and a source that is `source` when given, otherwise
  /// the key of the agent whose handler is running (see ``MessageContext/current``), otherwise
  /// `"default"`.
  public static func `default`(source: String? = nil) -> TopicId {
    TopicId(
      uncheckedType: defaultType,
      source: source ?? MessageContext.current?.recipient.key ?? "default"
    )
  }

  /// Whether `type` is a valid topic type.
  public static func isValidType(_ type: String) -> Bool {
    IdentifierRule.topicType.isValid(type)
  }

  /// The string form, `type/source`.
  public var description: String { "\(type)/\(source)" }

  public init(from decoder: any Decoder) throws {
    enum CodingKeys: String, CodingKey { case type, source }
    let container = try decoder.container(keyedBy: CodingKeys.self)
    try self.init(
      type: try container.decode(String.self, forKey: .type),
      source: try container.decode(String.self, forKey: .source)
    )
  }
}
