/// Identifies one agent instance: its ``AgentType`` and a key.
///
/// The key is free text; instances of one type with different keys are different agents. The
/// string form is `type/key`, and parsing splits at the first `/`, so keys may contain `/`.
///
/// ```swift
/// let id = try AgentId(type: "chat", key: "room-42")
/// let same = try AgentId(parsing: "chat/room-42")
/// ```
public struct AgentId: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
  /// The agent's type.
  public let type: AgentType
  /// The instance key (free text).
  public let key: String

  /// Creates an id from a type and key.
  public init(type: AgentType, key: String) {
    self.type = type
    self.key = key
  }

  /// Creates an id, validating the type name.
  ///
  /// - Throws: ``AgentRuntimeError/Code/invalidArgument`` when `type` breaks the agent type rule.
  public init(type: String, key: String) throws(AgentRuntimeError) {
    self.init(type: try AgentType(type), key: key)
  }

  /// Parses the string form `type/key`, splitting at the first `/`.
  ///
  /// - Throws: ``AgentRuntimeError/Code/invalidArgument`` when there is no `/` or the type is
  ///   invalid.
  public init(parsing string: String) throws(AgentRuntimeError) {
    guard let slash = string.firstIndex(of: "/") else {
      throw AgentRuntimeError(
        code: .invalidArgument,
        message: "invalid agent id '\(string)': expected the form 'type/key'"
      )
    }
    let type = String(string[..<slash])
    let key = String(string[string.index(after: slash)...])
    try self.init(type: type, key: key)
  }

  /// The string form, `type/key`.
  public var description: String { "\(type.name)/\(key)" }

  public static func < (lhs: AgentId, rhs: AgentId) -> Bool {
    (lhs.type.name, lhs.key) < (rhs.type.name, rhs.key)
  }
}
