/// The character rules for agent types and topic types, as AutoGen defines them.
///
/// - Agent types match `^[\w\-\.]+$`: letters, digits, `_`, `-` and `.`.
/// - Topic types match `^[\w\-\.\:\=]+$`: the same plus `:` and `=`.
///
/// `\w` follows Python's Unicode rule: any Unicode letter or digit counts.
package enum IdentifierRule: Sendable {
  case agentType
  case topicType

  package var pattern: String {
    switch self {
    case .agentType: return #"^[\w\-\.]+$"#
    case .topicType: return #"^[\w\-\.\:\=]+$"#
    }
  }

  package func isValid(_ value: String) -> Bool {
    guard !value.isEmpty else { return false }
    // Nearly every id is ASCII: check its bytes against a table, and look up Unicode properties
    // only for a value that has a non-ASCII scalar. The host checks ids on every routed message.
    var isASCII = true
    for byte in value.utf8 {
      guard byte < 0x80 else {
        isASCII = false
        break
      }
      guard allowsASCII(byte) else { return false }
    }
    return isASCII || value.unicodeScalars.allSatisfy(allows)
  }

  private func allowsASCII(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
      UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."):
      return true
    case UInt8(ascii: ":"), UInt8(ascii: "="):
      return self == .topicType
    default:
      return false
    }
  }

  private func allows(_ scalar: Unicode.Scalar) -> Bool {
    let props = scalar.properties
    if props.isAlphabetic || props.numericType != nil || scalar == "_" || scalar == "-" || scalar == "." {
      return true
    }
    switch self {
    case .agentType: return false
    case .topicType: return scalar == ":" || scalar == "="
    }
  }

  /// Throws an ``AgentRuntimeError/Code/invalidArgument`` error naming the value and the rule.
  package func validate(_ value: String, what: String) throws(AgentRuntimeError) {
    guard isValid(value) else {
      throw AgentRuntimeError(
        code: .invalidArgument,
        message: "invalid \(what) '\(value)': it must match \(pattern) (letters, digits, '_', '-', '.'"
          + (self == .topicType ? ", ':', '='" : "") + "; not empty)"
      )
    }
  }
}
