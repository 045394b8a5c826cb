/// String literals for ids and topics written in source code: `"translator"`, `"translator/default"`,
/// `"audit.events/site-1"`.
///
/// A literal is checked when it is created, like the throwing initializers, but an invalid literal
/// is a programming error: it stops the program with the rule it breaks (use the throwing
/// initializers for strings that arrive at run time).
extension AgentType: ExpressibleByStringLiteral {
  public init(stringLiteral value: String) {
    do {
      try self.init(value)
    } catch {
      preconditionFailure("invalid AgentType literal: \(error.message)")
    }
  }
}

/// `"type/key"`: split at the first `/`, as ``AgentId/init(parsing:)`` does.
extension AgentId: ExpressibleByStringLiteral {
  public init(stringLiteral value: String) {
    do {
      try self.init(parsing: value)
    } catch {
      preconditionFailure("invalid AgentId literal: \(error.message)")
    }
  }
}

/// `"type/source"`: split at the first `/` (a topic type has none); without a `/`, the source is
/// `"default"`.
extension TopicId: ExpressibleByStringLiteral {
  public init(stringLiteral value: String) {
    let parts = value.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
    do {
      try self.init(type: String(parts[0]), source: parts.count > 1 ? String(parts[1]) : TopicId.defaultType)
    } catch {
      preconditionFailure("invalid TopicId literal: \(error.message)")
    }
  }
}
