/// A name in a permission: `*` (every name), `PREFIX*` (names that start with `PREFIX`), or an
/// exact name.
///
/// The host checks what each identity may serve, publish, watch and call with these; a worker
/// learns its identity's publish patterns from the host, to refuse a forbidden publish itself.
public struct NamePattern: Sendable, Hashable, CustomStringConvertible {
  private enum Kind: Hashable {
    case any
    case prefix(String)
    case exact(String)
  }
  private let kind: Kind

  /// Every name.
  public static let any = NamePattern(kind: .any)

  private init(kind: Kind) { self.kind = kind }

  /// Parses `*`, `PREFIX*` or a name.
  ///
  /// - Throws: `AgentRuntimeError` (invalid argument) for an empty pattern or a `*` that is not
  ///   at its end.
  public init(_ text: String) throws(AgentRuntimeError) {
    if text == "*" {
      kind = .any
    } else if text.isEmpty || text.dropLast().contains("*") {
      throw AgentRuntimeError(code: .invalidArgument, message: "'\(text)' is not a name pattern: a name, PREFIX*, or *")
    } else if text.hasSuffix("*") {
      kind = .prefix(String(text.dropLast()))
    } else {
      kind = .exact(text)
    }
  }

  /// Whether `name` matches.
  public func matches(_ name: String) -> Bool {
    switch kind {
    case .any: true
    case .prefix(let prefix): name.hasPrefix(prefix)
    case .exact(let exact): name == exact
    }
  }

  /// Whether every name that starts with `prefix` matches (for a prefix subscription).
  public func covers(prefix: String) -> Bool {
    switch kind {
    case .any: true
    case .prefix(let mine): prefix.hasPrefix(mine)
    case .exact: false
    }
  }

  public var description: String {
    switch kind {
    case .any: "*"
    case .prefix(let prefix): prefix + "*"
    case .exact(let exact): exact
    }
  }
}
