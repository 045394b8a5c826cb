import AgentCore
import AgentWire
import GRPCNIOTransportHTTP2

extension HostAddress {
  /// The socket address to bind: `localhost` means the IPv4 loopback.
  func socketAddress() throws(AgentRuntimeError) -> GRPCNIOTransportCore.SocketAddress {
    let address = loopbackAsIPv4
    if address.isIPv6 { return .ipv6(host: address.host, port: port) }
    guard address.isIPv4 else {
      throw AgentRuntimeError(
        code: .invalidArgument,
        message: "cannot listen on '\(host)': use 'localhost', an IPv4 address or a bracketed IPv6 address")
    }
    return .ipv4(host: address.host, port: port)
  }

  init(_ address: GRPCNIOTransportCore.SocketAddress) throws {
    if let ipv4 = address.ipv4 {
      self.init(host: ipv4.host, port: ipv4.port)
    } else if let ipv6 = address.ipv6 {
      self.init(host: ipv6.host, port: ipv6.port)
    } else {
      throw AgentRuntimeError(code: .internalError, message: "unexpected listening address \(address)")
    }
  }
}
