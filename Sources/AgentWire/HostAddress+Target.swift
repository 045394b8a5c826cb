package import AgentCore
package import GRPCNIOTransportHTTP2
extension HostAddress {
  /// The transport's target for this address: an IP literal as is, anything else resolved by name.
  package var resolvableTarget: any ResolvableTarget {
    if isIPv6 { return .ipv6(address: host, port: port) }
    if isIPv4 { return .ipv4(address: host, port: port) }
    return .dns(host: host, port: port)
  }
}
