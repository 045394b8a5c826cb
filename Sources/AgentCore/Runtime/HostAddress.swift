/// A `host:port` address as users write it: `localhost:50051`, `127.0.0.1:0`, `[::1]:50051`.
public struct HostAddress: Hashable, Sendable, CustomStringConvertible {
  /// The host name or IP address, without brackets.
  public var host: String
  /// The port; 0 asks a server to pick a free one.
  public var port: Int

  /// Creates an address.
  public init(host: String, port: Int) {
    self.host = host
    self.port = port
  }

  /// Parses `host:port`; IPv6 hosts are written in brackets (`[::1]:50051`).
  ///
  /// - Throws: ``AgentRuntimeError/Code/invalidArgument`` naming the text when it is not of that
  ///   form or the port is not 0–65535.
  public init(parsing text: String) throws(AgentRuntimeError) {
    func invalid(_ why: String) -> AgentRuntimeError {
      AgentRuntimeError(code: .invalidArgument, message: "invalid address '\(text)': \(why) (expected host:port, e.g. localhost:50051 or [::1]:50051)")
    }
    let host: Substring
    let portText: Substring
    if text.hasPrefix("[") {
      guard let close = text.firstIndex(of: "]"),
        text[text.index(after: close)...].hasPrefix(":")
      else { throw invalid("unterminated IPv6 address") }
      host = text[text.index(after: text.startIndex)..<close]
      portText = text[text.index(close, offsetBy: 2)...]
    } else {
      guard let colon = text.lastIndex(of: ":") else { throw invalid("no port") }
      host = text[..<colon]
      portText = text[text.index(after: colon)...]
      if host.contains(":") { throw invalid("IPv6 addresses go in brackets") }
    }
    guard !host.isEmpty else { throw invalid("no host") }
    guard let port = Int(portText), (0...65535).contains(port) else { throw invalid("port must be 0-65535") }
    self.init(host: String(host), port: port)
  }

  /// Whether the host is an IPv6 address.
  public var isIPv6: Bool { host.contains(":") }

  /// Whether the host is a dotted-quad IPv4 address (not a name to resolve).
  package var isIPv4: Bool {
    let parts = host.split(separator: ".", omittingEmptySubsequences: false)
    return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil }
  }

  /// The address with `localhost` spelled as the IPv4 loopback, which is what hosts bind.
  package var loopbackAsIPv4: HostAddress {
    host == "localhost" ? HostAddress(host: "127.0.0.1", port: port) : self
  }

  /// `host:port`, with brackets around an IPv6 host.
  public var description: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
