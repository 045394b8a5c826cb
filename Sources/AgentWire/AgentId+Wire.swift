package import AgentCore

extension Agents_AgentId {
  /// The wire form of `id`.
  package init(_ id: AgentId) {
    self.init()
    self.type = id.type.name
    self.key = id.key
  }
}

extension AgentId {
  /// Converts a wire id, validating the type.
  ///
  /// - Throws: ``AgentRuntimeError/Code/invalidArgument`` when the type breaks the agent type rule.
  package init(wire: Agents_AgentId) throws(AgentRuntimeError) {
    try self.init(type: wire.type, key: wire.key)
  }
}
