/// The name of a kind of agent, such as `"chat"` or `"planner.v2"`.
///
/// Agent types follow AutoGen's rule `^[\w\-\.]+$`: letters, digits, `_`, `-` and `.`.
///
/// ```swift
/// let type = AgentType("assistant")
/// ```
public struct AgentType: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
  /// The type's name.
  public let name: String

  /// Creates an agent type, validating its name.
  ///
  /// - Throws: ``AgentRuntimeError`` with code ``AgentRuntimeError/Code/invalidArgument`` when
  ///   `name` is empty or has a character outside the rule.
  public init(_ name: String) throws(AgentRuntimeError) {
    try IdentifierRule.agentType.validate(name, what: "agent type")
    self.name = name
  }

  package init(unchecked name: String) {
    self.name = name
  }

  /// Whether `name` is a valid agent type name.
  public static func isValid(_ name: String) -> Bool {
    IdentifierRule.agentType.isValid(name)
  }

  public var description: String { name }

  public static func < (lhs: AgentType, rhs: AgentType) -> Bool { lhs.name < rhs.name }

  public init(from decoder: any Decoder) throws {
    let name = try decoder.singleValueContainer().decode(String.self)
    try self.init(name)
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(name)
  }
}
