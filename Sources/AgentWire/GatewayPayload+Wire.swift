package import AgentCore
import Foundation

extension Agents_Gateway_V1_Payload {
  /// The gateway's form of a serialized message: JSON as text, anything else as bytes.
  package init(_ payload: SerializedPayload) {
    self.init()
    type = payload.typeName
    contentType = payload.contentType
    if payload.contentType.hasPrefix(ContentType.json) {
      json = String(decoding: payload.data, as: UTF8.self)
    } else {
      data = payload.data
    }
  }

  /// The serialized message, with the content type defaulting by body (JSON text or bytes).
  ///
  /// - Throws: `.invalidArgument` when the type name or the body is missing, or JSON text does
  ///   not parse.
  package func serialized() throws(AgentRuntimeError) -> SerializedPayload {
    guard !type.isEmpty else {
      throw AgentRuntimeError(code: .invalidArgument, message: "the message has no type name (Payload.type)")
    }
    switch body {
    case .json(let text):
      let bytes = Data(text.utf8)
      guard (try? JSONSerialization.jsonObject(with: bytes, options: .fragmentsAllowed)) != nil else {
        throw AgentRuntimeError(code: .invalidArgument, message: "Payload.json is not valid JSON")
      }
      return SerializedPayload(typeName: type, contentType: contentType.isEmpty ? ContentType.json : contentType, data: bytes)
    case .data(let bytes):
      return SerializedPayload(typeName: type, contentType: contentType.isEmpty ? ContentType.protobuf : contentType, data: bytes)
    case nil:
      throw AgentRuntimeError(code: .invalidArgument, message: "the message has no body (Payload.json or Payload.data)")
    }
  }
}
