import AgentCore
@testable import AgentWire
import Foundation
import GRPCCore
import SwiftProtobuf
import Testing

@Suite("Channel frames (the host's pass-through codec)")
struct ChannelFrameTests {
  let codec = ChannelFrameCodec()

  func event() throws -> Io_Cloudevents_V1_CloudEvent {
    var event = try Io_Cloudevents_V1_CloudEvent(PublishedEvent(
      topic: try TopicId(type: "news.ü", source: "room/1"), sender: try AgentId(type: "a", key: "b"), messageId: "m-1",
      payload: SerializedPayload(typeName: "T", contentType: ContentType.json, data: Data(#"{"x":1}"#.utf8))))
    event.attributes["n"] = .with { $0.ceInteger = -5 }
    return event
  }

  @Test("an event frame keeps the bytes, reads id/source/type, and re-encodes to the same message")
  func eventRoundTrip() throws {
    let message = Agents_Message.with { $0.cloudEvent = try! event() }
    let bytes: [UInt8] = try message.serializedBytes()
    guard case .event(let raw) = try codec.deserialize(bytes) else {
      Issue.record("not an event frame")
      return
    }
    #expect(raw.id == "m-1" && raw.source == "room/1" && raw.type == "news.ü")
    let reencoded: [UInt8] = try codec.serialize(.event(raw))
    #expect(reencoded == bytes)
    #expect(try Agents_Message(serializedBytes: reencoded) == message)
  }

  @Test("an appended attribute decodes as a ce_string map entry, the rest unchanged")
  func appendedAttribute() throws {
    let original = try event()
    var raw = try RawCloudEvent(bytes: try original.serializedBytes())
    raw.appendStringAttribute("agrecipienttypes", "a,b")
    let decoded = try Agents_Message(serializedBytes: try codec.serialize(.event(raw)) as [UInt8]).cloudEvent
    var expected = original
    expected.attributes["agrecipienttypes"] = .with { $0.ceString = "a,b" }
    #expect(decoded == expected)
  }

  @Test("request, response and empty frames round-trip through the generated coding")
  func rpcFrames() throws {
    let request = Agents_RpcRequest.with { $0.requestID = "1"; $0.target = .with { $0.type = "t"; $0.key = "k" } }
    let response = Agents_RpcResponse.with { $0.requestID = "1"; $0.error = "e" }
    for message in [Agents_Message.with { $0.request = request }, .with { $0.response = response }, Agents_Message()] {
      let bytes: [UInt8] = try message.serializedBytes()
      let frame = try codec.deserialize(bytes)
      #expect(try Agents_Message(serializedBytes: try codec.serialize(frame) as [UInt8]) == message)
    }
  }

  @Test("an RPC request's id can be rewritten without touching its other fields")
  func rewriteRequestId() throws {
    let request = Agents_RpcRequest.with {
      $0.requestID = "caller-1"
      $0.source = .with { $0.type = "s"; $0.key = "sk" }
      $0.target = .with { $0.type = "svc"; $0.key = "k/ü" }
      $0.method = "m"
      $0.payload = .with { $0.dataType = "T"; $0.dataContentType = "application/json"; $0.data = Data("{}".utf8) }
      $0.metadata = ["agtimeoutms": "500", "x": "y"]
    }
    var raw = RawRpcRequest(request)
    #expect(raw.requestId == "caller-1")
    #expect(raw.target?.type == "svc" && raw.target?.key == "k/ü")
    raw.requestId = "h42"
    var expected = request
    expected.requestID = "h42"
    #expect(try raw.decoded() == expected)
    #expect(RawRpcRequest(Agents_RpcRequest.with { $0.requestID = "x" }).target == nil)
  }

  @Test("a request read from a generated message and from its bytes agree", arguments: [false, true])
  func requestInitializersAgree(streamed: Bool) throws {
    let request = Agents_RpcRequest.with {
      $0.requestID = "r-1"
      $0.target = .with { $0.type = "svc"; $0.key = "k" }
      $0.payload = .with { $0.dataType = "T"; $0.data = Data("{}".utf8) }
      if streamed { $0.metadata = [StreamedCallWire.requestKey: "1"] }
    }
    let fromMessage = RawRpcRequest(request)
    let fromBytes = try RawRpcRequest(bytes: try request.serializedBytes() as [UInt8])
    #expect(fromMessage.requestId == fromBytes.requestId)
    #expect(fromMessage.target?.type == fromBytes.target?.type && fromMessage.target?.key == fromBytes.target?.key)
    #expect(fromMessage.wantsChunks == streamed && fromBytes.wantsChunks == streamed)
    #expect(try fromMessage.decoded() == request)
    #expect(RawRpcRequest(Agents_RpcRequest.with { $0.requestID = "no-target" }).target == nil)
  }

  @Test("a response with neither a payload nor an error text is told apart from an empty result, however it is read")
  func neitherResultNorError() throws {
    let cases: [(Agents_RpcResponse, Bool)] = [
      (.with { $0.requestID = "1" }, true),  // AutoGen's answer for a cancelled handler
      (.with { $0.requestID = "2"; $0.metadata = ["k": "v"] }, true),
      (.with { $0.requestID = "3"; $0.payload = Agents_Payload() }, false),  // "returned nothing"
      (.with { $0.requestID = "4"; $0.error = "boom" }, false),
    ]
    for (response, expected) in cases {
      let bytes: [UInt8] = try response.serializedBytes()
      let fromBytes = try RawRpcResponse(bytes: bytes)
      #expect(fromBytes.isNeitherResultNorError == expected, "\(response)")
      #expect(RawRpcResponse(response).isNeitherResultNorError == expected, "\(response)")
      #expect(RawRpcResponse(requestId: "x", rest: fromBytes.rest).isNeitherResultNorError == expected, "\(response)")
    }
  }

  @Test("an RPC response's id can be rewritten without touching its other fields")
  func rewriteResponseId() throws {
    let response = Agents_RpcResponse.with {
      $0.requestID = "h42"
      $0.error = "boom"
      $0.metadata = ["agerrorcode": "handler-failed"]
    }
    var raw = RawRpcResponse(response)
    #expect(raw.requestId == "h42")
    raw.requestId = "caller-1"
    var expected = response
    expected.requestID = "caller-1"
    #expect(try raw.decoded() == expected)
  }

  @Test(
    "malformed frames are errors, not crashes",
    arguments: [
      [0x1A, 0x05, 0x0A],  // event length past the end
      [0x1A, 0x02, 0x0A, 0x05],  // id length past the end of the event
      [0x1A, 0x03, 0x0A, 0x01, 0xFF],  // id is not UTF-8
      [0x1A, 0x01, 0x0B],  // wire type 3 (groups) inside the event
      [0x80],  // truncated tag varint
      [0x0A, 0x02, 0xFF, 0xFF],  // a request whose bytes are not protobuf
      [0x0A, 0x04, 0x1A, 0x02, 0x0A, 0x05],  // a request whose target is truncated
      [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],  // varint over 64 bits
      [0x00],  // field number 0
    ] as [[UInt8]]
  )
  func malformed(bytes: [UInt8]) {
    #expect(throws: (any Error).self) { try codec.deserialize(bytes) }
  }

  @Test("a frame over the size limit is read as oversized, with its kind and request id")
  func oversized() throws {
    let limited = ChannelFrameCodec(maxFrameSize: 64)
    let payload = Agents_Payload(SerializedPayload(typeName: "T", contentType: ContentType.json, data: Data(repeating: 0x20, count: 100)))
    let frames: [(Agents_Message, OversizedFrame.Kind, String?)] = [
      (.with { $0.request = .with { $0.requestID = "r1"; $0.payload = payload } }, .request, "r1"),
      (.with { $0.response = .with { $0.requestID = "r2"; $0.payload = payload } }, .response, "r2"),
      (.with { $0.cloudEvent = try! event(); $0.cloudEvent.binaryData = Data(count: 100) }, .event, nil),
    ]
    for (message, kind, requestId) in frames {
      let bytes: [UInt8] = try message.serializedBytes()
      guard case .oversized(let frame) = try limited.deserialize(bytes) else {
        Issue.record("\(kind) of \(bytes.count) bytes not refused")
        continue
      }
      #expect(frame.kind == kind && frame.requestId == requestId && frame.size == bytes.count && frame.limit == 64)
      #expect(frame.reason.contains("\(bytes.count) bytes, over the host's limit of 64 bytes"))
      // Under the limit, the same frame passes.
      guard case .oversized = try ChannelFrameCodec(maxFrameSize: bytes.count).deserialize(bytes) else { continue }
      Issue.record("\(kind) at exactly the limit was refused")
    }
  }

  @Test("random bytes never crash the decoder")
  func randomBytes() {
    var generator = SystemRandomNumberGenerator()
    for length in 0..<2000 {
      let bytes = (0..<(length % 64)).map { _ in UInt8.random(in: 0...255, using: &generator) }
      _ = try? codec.deserialize(bytes)
    }
  }
}
