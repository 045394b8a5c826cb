/// The `agents.AgentRpc` call metadata this package reads and writes.
package enum AgentRpcMetadata {
  /// Every `agents.AgentRpc` call carries the worker's client id under this key (AutoGen's rule).
  package static let clientIdKey = "client-id"
  /// `OpenChannel`'s response headers, on a host that requires credentials: the identity the
  /// worker was admitted as.
  package static let identityKey = "agents-identity"
  /// `OpenChannel`'s response headers: the topic types the identity may publish to, as
  /// comma-separated name patterns (empty: none).
  package static let publishPatternsKey = "agents-publish"
  /// `OpenChannel` from a host of a cluster to another: the opening node's name. Its requests and
  /// events are routed as a peer node's (delivered on this node, passed on only to an instance's
  /// recorded owner).
  package static let nodeKey = "agents-node"
}
