package import AgentCore
import Foundation
import SwiftProtobuf

/// A published message as it travels between workers: a CloudEvent on the wire.
package struct PublishedEvent: Sendable, Hashable {
  /// The topic it was published to.
  package var topic: TopicId
  /// The publishing agent, if any.
  package var sender: AgentId?
  /// The message id (the CloudEvent id).
  package var messageId: String
  /// The serialized message.
  package var payload: SerializedPayload
  /// The agent types this copy of the event is for, set by a host that spreads one agent type
  /// over several workers; `nil` means every matching subscription on the receiving worker.
  package var recipientTypes: [AgentType]?

  /// Creates an event.
  package init(
    topic: TopicId,
    sender: AgentId?,
    messageId: String,
    payload: SerializedPayload,
    recipientTypes: [AgentType]? = nil
  ) {
    self.topic = topic
    self.sender = sender
    self.messageId = messageId
    self.payload = payload
    self.recipientTypes = recipientTypes
  }
}

/// The CloudEvent attribute names AutoGen uses.
package enum CloudEventAttribute {
  /// The payload's MIME type.
  package static let dataContentType = "datacontenttype"
  /// The payload's type name.
  package static let dataSchema = "dataschema"
  /// The message kind; `publish` for published messages.
  package static let messageKind = "agmsgkind"
  /// The sending agent's type, or `unknown`.
  package static let senderType = "agagentsendertype"
  /// The sending agent's key, or `unknown`.
  package static let senderKey = "agagentsenderkey"
  /// Our extension: comma-separated agent types a host addressed this copy of the event to.
  /// AutoGen's workers ignore it.
  package static let recipientTypes = "agrecipienttypes"
  /// Our extension, between the nodes of a cluster: comma-separated agent types the receiving
  /// node delivers this copy to. Workers ignore it.
  package static let nodeTypes = "agnodetypes"
}

extension Io_Cloudevents_V1_CloudEvent {
  /// The CloudEvent for `event`, exactly as AutoGen's worker writes it.
  ///
  /// - Throws: ``AgentRuntimeError/Code/serializationFailed`` when a protobuf payload is not a
  ///   serialized `google.protobuf.Any`.
  package init(_ event: PublishedEvent) throws(AgentRuntimeError) {
    self.init()
    self.id = event.messageId
    self.source = event.topic.source
    self.type = event.topic.type
    self.specVersion = "1.0"
    func string(_ value: String) -> Io_Cloudevents_V1_CloudEvent.CloudEventAttributeValue {
      .with { $0.ceString = value }
    }
    attributes[CloudEventAttribute.dataContentType] = string(event.payload.contentType)
    attributes[CloudEventAttribute.dataSchema] = string(event.payload.typeName)
    attributes[CloudEventAttribute.messageKind] = string("publish")
    attributes[CloudEventAttribute.senderType] = string(event.sender?.type.name ?? "unknown")
    attributes[CloudEventAttribute.senderKey] = string(event.sender?.key ?? "unknown")
    if let recipientTypes = event.recipientTypes {
      attributes[CloudEventAttribute.recipientTypes] = string(
        recipientTypes.map(\.name).joined(separator: ",")
      )
    }
    if event.payload.contentType == ContentType.protobuf {
      do {
        self.protoData = try Google_Protobuf_Any(serializedBytes: event.payload.data)
      } catch {
        throw AgentRuntimeError(
          code: .serializationFailed,
          message: "protobuf payload '\(event.payload.typeName)' is not a serialized google.protobuf.Any",
          cause: error
        )
      }
    } else {
      self.binaryData = event.payload.data
    }
  }

  /// The value of a `ce_string` attribute.
  package func stringAttribute(_ name: String) -> String? {
    guard case .ceString(let value)? = attributes[name]?.attr else { return nil }
    return value
  }
}

extension PublishedEvent {
  /// Reads a CloudEvent written by any AutoGen-compatible worker.
  ///
  /// - Throws: ``AgentRuntimeError/Code/invalidArgument`` when the type is missing or invalid,
  ///   `datacontenttype` is missing, or there is no data.
  package init(wire event: Io_Cloudevents_V1_CloudEvent) throws(AgentRuntimeError) {
    let topic = try TopicId(type: event.type, source: event.source)
    guard let contentType = event.stringAttribute(CloudEventAttribute.dataContentType) else {
      throw AgentRuntimeError(
        code: .invalidArgument,
        message: "CloudEvent '\(event.id)' has no '\(CloudEventAttribute.dataContentType)' string attribute"
      )
    }
    let typeName = event.stringAttribute(CloudEventAttribute.dataSchema) ?? ""
    let data: Data
    switch event.data {
    case .binaryData(let bytes):
      data = bytes
    case .textData(let text):
      data = Data(text.utf8)
    case .protoData(let any):
      do {
        data = try any.serializedBytes()
      } catch {
        throw AgentRuntimeError(code: .serializationFailed, message: "could not re-encode proto_data", cause: error)
      }
    case nil:
      throw AgentRuntimeError(code: .invalidArgument, message: "CloudEvent '\(event.id)' has no data")
    }
    var sender: AgentId?
    if let type = event.stringAttribute(CloudEventAttribute.senderType),
      let key = event.stringAttribute(CloudEventAttribute.senderKey),
      !(type == "unknown" && key == "unknown")
    {
      sender = try? AgentId(type: type, key: key)
    }
    var recipientTypes: [AgentType]?
    if let list = event.stringAttribute(CloudEventAttribute.recipientTypes) {
      recipientTypes = list.split(separator: ",").compactMap { try? AgentType(String($0)) }
    }
    self.init(
      topic: topic,
      sender: sender,
      messageId: event.id,
      payload: SerializedPayload(typeName: typeName, contentType: contentType, data: data),
      recipientTypes: recipientTypes
    )
  }
}
