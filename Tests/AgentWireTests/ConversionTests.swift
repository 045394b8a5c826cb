import AgentCore
import AgentWire
import Foundation
import SwiftProtobuf
import Testing

@Suite("Wire conversions")
struct ConversionTests {
  @Test("agent ids convert both ways; an invalid wire type is rejected")
  func agentIds() throws {
    let id = try AgentId(type: "chat", key: "k/1")
    let wire = Agents_AgentId(id)
    #expect(wire.type == "chat" && wire.key == "k/1")
    #expect(try AgentId(wire: wire) == id)
    let bad = Agents_AgentId.with { $0.type = "bad type"; $0.key = "k" }
    #expect(throws: AgentRuntimeError.self) { try AgentId(wire: bad) }
  }

  @Test("subscriptions convert both ways; one with no kind set is rejected")
  func subscriptions() throws {
    let type = try Subscription(id: "s1", filter: .type("news"), agentType: AgentType("reader"))
    let prefix = try Subscription(id: "s2", filter: .typePrefix("reader:"), agentType: AgentType("reader"))
    #expect(Agents_Subscription(type).typeSubscription.topicType == "news")
    #expect(Agents_Subscription(prefix).typePrefixSubscription.topicTypePrefix == "reader:")
    #expect(try Subscription(wire: Agents_Subscription(type)) == type)
    #expect(try Subscription(wire: Agents_Subscription(prefix)) == prefix)
    let error = #expect(throws: AgentRuntimeError.self) {
      try Subscription(wire: Agents_Subscription.with { $0.id = "s3" })
    }
    #expect(error?.code == .invalidArgument)
  }

  @Test("a JSON publish becomes the CloudEvent AutoGen writes")
  func jsonCloudEvent() throws {
    let event = PublishedEvent(
      topic: try TopicId(type: "default", source: "room"),
      sender: try AgentId(type: "writer", key: "w1"),
      messageId: "m-1",
      payload: SerializedPayload(typeName: "ChatMessage", contentType: ContentType.json, data: Data(#"{"text":"hi"}"#.utf8)))
    let wire = try Io_Cloudevents_V1_CloudEvent(event)
    #expect(wire.id == "m-1" && wire.type == "default" && wire.source == "room" && wire.specVersion == "1.0")
    #expect(wire.stringAttribute("datacontenttype") == "application/json")
    #expect(wire.stringAttribute("dataschema") == "ChatMessage")
    #expect(wire.stringAttribute("agmsgkind") == "publish")
    #expect(wire.stringAttribute("agagentsendertype") == "writer")
    #expect(wire.stringAttribute("agagentsenderkey") == "w1")
    #expect(wire.attributes.count == 5)
    #expect(wire.binaryData == Data(#"{"text":"hi"}"#.utf8))
    #expect(try PublishedEvent(wire: wire) == event)
  }

  @Test("a protobuf publish carries the Any in proto_data; no sender is unknown/unknown")
  func protobufCloudEvent() throws {
    let message = Google_Protobuf_StringValue.with { $0.value = "hello" }
    var registry = SerializationRegistry()
    registry.registerProtobuf(Google_Protobuf_StringValue.self)
    let payload = try registry.serialize(message)
    let event = PublishedEvent(topic: .default(source: "s"), sender: nil, messageId: "m-2", payload: payload)
    let wire = try Io_Cloudevents_V1_CloudEvent(event)
    #expect(wire.stringAttribute("datacontenttype") == "application/x-protobuf")
    #expect(wire.stringAttribute("dataschema") == "google.protobuf.StringValue")
    #expect(wire.stringAttribute("agagentsendertype") == "unknown")
    #expect(wire.stringAttribute("agagentsenderkey") == "unknown")
    guard case .protoData(let any)? = wire.data else {
      Issue.record("expected proto_data, got \(String(describing: wire.data))")
      return
    }
    #expect(try Google_Protobuf_StringValue(unpackingAny: any) == message)
    let back = try PublishedEvent(wire: wire)
    #expect(back.sender == nil)
    #expect(try registry.deserialize(back.payload) as? Google_Protobuf_StringValue == message)
  }

  @Test("the recipient-types hint round-trips and is absent by default")
  func recipientHint() throws {
    var event = PublishedEvent(
      topic: .default(source: "s"), sender: nil, messageId: "m",
      payload: SerializedPayload(typeName: "T", contentType: ContentType.json, data: Data("{}".utf8)))
    #expect(try Io_Cloudevents_V1_CloudEvent(event).attributes["agrecipienttypes"] == nil)
    event.recipientTypes = [AgentType("a"), AgentType("b.c")]
    let wire = try Io_Cloudevents_V1_CloudEvent(event)
    #expect(wire.stringAttribute("agrecipienttypes") == "a,b.c")
    #expect(try PublishedEvent(wire: wire).recipientTypes == event.recipientTypes)
  }

  @Test("malformed CloudEvents are rejected with a clear error")
  func malformedEvents() throws {
    var noType = Io_Cloudevents_V1_CloudEvent()
    noType.attributes["datacontenttype"] = .with { $0.ceString = "application/json" }
    noType.binaryData = Data("{}".utf8)
    #expect(throws: AgentRuntimeError.self) { try PublishedEvent(wire: noType) }

    var noContentType = noType
    noContentType.type = "default"
    noContentType.attributes = [:]
    let error = #expect(throws: AgentRuntimeError.self) { try PublishedEvent(wire: noContentType) }
    #expect(error?.message.contains("datacontenttype") == true)

    var noData = noType
    noData.type = "default"
    noData.data = nil
    #expect(throws: AgentRuntimeError.self) { try PublishedEvent(wire: noData) }

    var textData = noData
    textData.textData = #"{"a":1}"#
    #expect(try PublishedEvent(wire: textData).payload.data == Data(#"{"a":1}"#.utf8))
  }
}
