import AgentCore

/// Translate `text` into the language `to`. AutoGen (Python) peers send the same fields as a
/// dataclass named `TranslateRequest`.
public struct TranslateRequest: Codable, Sendable {
  public var text: String
  public var to: String
  public init(text: String, to: String) { (self.text, self.to) = (text, to) }
}

public struct TranslateReply: Codable, Sendable, Equatable {
  public var text: String
  public init(text: String) { self.text = text }
}

/// Something to audit, published to `audit.events`.
public struct AuditEvent: Codable, Sendable {
  public var what: String
  public init(what: String) { self.what = what }
}

/// Asks an auditor how many events it has seen.
public struct AuditCount: Codable, Sendable {
  public init() {}
}

public struct AuditTotal: Codable, Sendable, Equatable {
  public var count: Int
  public init(count: Int) { self.count = count }
}
