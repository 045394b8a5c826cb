package import AgentCore

extension Agents_Payload {
  /// The wire form of `payload`.
  package init(_ payload: SerializedPayload) {
    self.init()
    self.dataType = payload.typeName
    self.dataContentType = payload.contentType
    self.data = payload.data
  }
}

extension SerializedPayload {
  /// Converts a wire payload.
  package init(wire: Agents_Payload) {
    self.init(typeName: wire.dataType, contentType: wire.dataContentType, data: wire.data)
  }
}
