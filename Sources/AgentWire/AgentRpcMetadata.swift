/// The `agents.AgentRpc` call metadata this package reads and writes.
package enum AgentRpcMetadata {
  /// Every `agents.AgentRpc` call carries the worker's client id under this key (AutoGen's rule).
  package static let clientIdKey = "client-id"
}
