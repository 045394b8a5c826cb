import Foundation
package import GRPCCore
import SwiftProtobuf

/// One `agents.Message` on an `OpenChannel` stream, as a router sees it: RPC frames decoded,
/// CloudEvents kept as the bytes they arrived in with only their routing fields read.
///
/// A host forwards events without decoding or re-encoding their attributes and data, which is most
/// of the cost of a publish. The bytes on the wire are exactly `agents.Message`.
package enum ChannelFrame: Sendable {
  case request(RawRpcRequest)
  case response(RawRpcResponse)
  case event(RawCloudEvent)
  /// A `Message` with no case set.
  case empty
  /// A frame over the reader's size limit, not parsed beyond what is needed to answer it.
  case oversized(OversizedFrame)
}

/// What a router needs to refuse a frame that is too large: which kind it is and, for RPC frames,
/// the request id to answer.
package struct OversizedFrame: Sendable {
  package enum Kind: String, Sendable {
    case request = "RpcRequest"
    case response = "RpcResponse"
    case event = "CloudEvent"
    case other = "Message"
  }

  package var kind: Kind
  package var requestId: String?
  /// The frame's size in bytes.
  package var size: Int
  /// The limit it exceeds, in bytes.
  package var limit: Int

  init(_ frame: ChannelFrame, size: Int, limit: Int) {
    switch frame {
    case .request(let request): (kind, requestId) = (.request, request.requestId)
    case .response(let response): (kind, requestId) = (.response, response.requestId)
    case .event: kind = .event
    case .empty, .oversized: kind = .other
    }
    self.size = size
    self.limit = limit
  }

  /// Why it is refused, for its sender.
  package var reason: String {
    "the \(kind.rawValue) is \(size) bytes, over the host's limit of \(limit) bytes (--max-message-size)"
  }
}

/// A serialized `agents.RpcRequest` with its request id and target read out; the other fields stay
/// bytes, so forwarding it means rewriting the id only.
package struct RawRpcRequest: Sendable {
  package var requestId: String
  /// The target's type and key; nil when the request has no target.
  package var target: (type: String, key: String)?
  /// Whether the caller asked for a streamed answer (`metadata["agstream"]`, see `StreamedCallWire`).
  package var wantsChunks: Bool
  /// Every field but `request_id`, as received.
  package var rest: [UInt8]

  package init(bytes: some Collection<UInt8>) throws {
    var target: (String, String)?
    var wantsChunks = false
    (requestId, rest) = try splitRequestId(bytes) { field, value in
      if field == 3 { target = try RawRpcRequest.agentId(value) }
      if field == 6, !wantsChunks { wantsChunks = try RawRpcRequest.mapKey(value) == StreamedCallWire.requestKey }
    }
    self.target = target
    self.wantsChunks = wantsChunks
  }

  /// The key of a `map<string, string>` entry.
  private static func mapKey(_ bytes: UnsafeRawBufferPointer.SubSequence) throws -> String {
    var reader = ProtoReader(UnsafeRawBufferPointer(rebasing: bytes))
    while !reader.isAtEnd {
      let (field, wireType) = try reader.readTag()
      if (field, wireType) == (1, 2) { return try reader.readString() }
      try reader.skip(wireType: wireType)
    }
    return ""
  }

  package init(_ request: Agents_RpcRequest) {
    requestId = request.requestID
    target = request.hasTarget ? (request.target.type, request.target.key) : nil
    wantsChunks = request.metadata[StreamedCallWire.requestKey] != nil
    var rest = request
    rest.requestID = ""
    // A proto3 message with no required fields and no `Any` has no serialization failure.
    self.rest = (try? rest.serializedBytes()) ?? []
  }

  package func decoded() throws -> Agents_RpcRequest {
    try Agents_RpcRequest(serializedBytes: serialized())
  }

  package func serialized() -> [UInt8] { serializeWithRequestId(requestId, rest: rest) }

  private static func agentId(_ bytes: UnsafeRawBufferPointer.SubSequence) throws -> (String, String) {
    var type = ""
    var key = ""
    var reader = ProtoReader(UnsafeRawBufferPointer(rebasing: bytes))
    while !reader.isAtEnd {
      let (field, wireType) = try reader.readTag()
      switch (field, wireType) {
      case (1, 2): type = try reader.readString()
      case (2, 2): key = try reader.readString()
      default: try reader.skip(wireType: wireType)
      }
    }
    return (type, key)
  }
}

/// A serialized `agents.RpcResponse` with its request id read out.
package struct RawRpcResponse: Sendable {
  package var requestId: String
  /// Every field but `request_id`, as received.
  package var rest: [UInt8]
  /// Whether the response carries neither a payload nor an error text.
  ///
  /// AutoGen's Python worker sends one when a handler is cancelled (its worker stopping mid-call)
  /// or raises an exception whose text is empty; its caller would take it for an empty success.
  /// Our workers answer a handler that returns nothing with an explicitly present, empty payload.
  /// Read while the frame is parsed, so routing a response costs no second pass.
  package let isNeitherResultNorError: Bool
  /// Whether the response carries an error text (the call failed).
  package let isError: Bool

  package init(requestId: String, rest: [UInt8]) {
    self.requestId = requestId
    self.rest = rest
    var answered = false
    var isError = false
    _ = try? splitRequestId(rest) { field, value in
      answered = answered || Self.answers(field, value)
      isError = isError || Self.isError(field, value)
    }
    isNeitherResultNorError = !answered
    self.isError = isError
  }

  package init(bytes: some Collection<UInt8>) throws {
    var answered = false
    var isError = false
    (requestId, rest) = try splitRequestId(bytes) { field, value in
      answered = answered || Self.answers(field, value)
      isError = isError || Self.isError(field, value)
    }
    isNeitherResultNorError = !answered
    self.isError = isError
  }

  package init(_ response: Agents_RpcResponse) {
    requestId = response.requestID
    isNeitherResultNorError = !response.hasPayload && response.error.isEmpty
    isError = !response.error.isEmpty
    var rest = response
    rest.requestID = ""
    // A proto3 message with no required fields and no `Any` has no serialization failure.
    self.rest = (try? rest.serializedBytes()) ?? []
  }

  /// Whether a length-delimited field is an answer: a `payload` (field 2, even empty) or a
  /// non-empty `error` (field 3).
  private static func answers(_ field: UInt64, _ value: UnsafeRawBufferPointer.SubSequence) -> Bool {
    field == 2 || isError(field, value)
  }

  /// Whether a length-delimited field is a non-empty `error` (field 3).
  private static func isError(_ field: UInt64, _ value: UnsafeRawBufferPointer.SubSequence) -> Bool {
    field == 3 && !value.isEmpty
  }

  package func decoded() throws -> Agents_RpcResponse {
    try Agents_RpcResponse(serializedBytes: serialized())
  }

  package func serialized() -> [UInt8] { serializeWithRequestId(requestId, rest: rest) }
}

/// A serialized `io.cloudevents.v1.CloudEvent` with its id, source and type read out.
package struct RawCloudEvent: Sendable {
  /// The event exactly as received.
  package var bytes: [UInt8]
  package var id: String
  package var source: String
  package var type: String
  /// Extra attributes appended when forwarding (protobuf merges repeated map entries).
  package var appended: [UInt8] = []

  /// Reads `bytes` as a CloudEvent, checking the wire format of every field.
  package init(bytes: [UInt8]) throws {
    self.bytes = bytes
    var id = ""
    var source = ""
    var type = ""
    try bytes.withUnsafeBytes { buffer in
      var reader = ProtoReader(buffer)
      while !reader.isAtEnd {
        let (field, wireType) = try reader.readTag()
        switch (field, wireType) {
        case (1, 2): id = try reader.readString()
        case (2, 2): source = try reader.readString()
        case (4, 2): type = try reader.readString()
        default: try reader.skip(wireType: wireType)
        }
      }
    }
    self.id = id
    self.source = source
    self.type = type
  }

  /// Adds a `ce_string` attribute to the forwarded event.
  package mutating func appendStringAttribute(_ key: String, _ value: String) {
    var attributeValue = ProtoWriter()
    attributeValue.writeBytes(field: 3, Array(value.utf8))  // ce_string
    var entry = ProtoWriter()
    entry.writeBytes(field: 1, Array(key.utf8))
    entry.writeBytes(field: 2, attributeValue.bytes)
    var attributes = ProtoWriter()
    attributes.writeBytes(field: 5, entry.bytes)  // CloudEvent.attributes
    appended += attributes.bytes
  }

  /// This event with another topic type (decodes and encodes it: for chunks, not the publish path).
  package func withType(_ type: String) throws -> RawCloudEvent {
    var event = try decoded()
    event.type = type
    return try RawCloudEvent(bytes: try event.serializedBytes())
  }

  /// The event as a generated message (decodes everything; for tests and slow paths).
  package func decoded() throws -> Io_Cloudevents_V1_CloudEvent {
    try Io_Cloudevents_V1_CloudEvent(serializedBytes: bytes + appended)
  }
}

/// Reads an RPC message (`RpcRequest` or `RpcResponse`, both with `request_id` as field 1): the request
/// id, and every other field's bytes as received. `inspect` sees each other length-delimited field.
private func splitRequestId(
  _ bytes: some Collection<UInt8>,
  inspect: (_ field: UInt64, _ value: UnsafeRawBufferPointer.SubSequence) throws -> Void = { _, _ in }
) throws -> (requestId: String, rest: [UInt8]) {
  var requestId = ""
  var rest: [UInt8] = []
  try Array(bytes).withUnsafeBytes { buffer in
    var reader = ProtoReader(buffer)
    while !reader.isAtEnd {
      let start = reader.offset
      let (field, wireType) = try reader.readTag()
      if field == 1, wireType == 2 {
        requestId = try reader.readString()
        continue
      }
      if wireType == 2 {
        try inspect(field, try reader.readLengthDelimited())
      } else {
        try reader.skip(wireType: wireType)
      }
      rest += buffer[start..<reader.offset]
    }
  }
  return (requestId, rest)
}

/// An RPC message's bytes: `request_id` (field 1, omitted when empty, as proto3 does) then the rest.
private func serializeWithRequestId(_ requestId: String, rest: [UInt8]) -> [UInt8] {
  var writer = ProtoWriter()
  if !requestId.isEmpty { writer.writeBytes(field: 1, Array(requestId.utf8)) }
  writer.bytes += rest
  return writer.bytes
}

/// Reads and writes `agents.Message` frames as ``ChannelFrame``s.
///
/// A frame larger than `maxFrameSize` is read as ``ChannelFrame/oversized(_:)`` (with its request
/// id, for RPC frames) so that the router can answer it without ending the stream; the transport's
/// own limit, above this one, still ends a stream that exceeds it.
package struct ChannelFrameCodec: GRPCCore.MessageSerializer, GRPCCore.MessageDeserializer {
  package let maxFrameSize: Int

  package init(maxFrameSize: Int = .max) {
    self.maxFrameSize = maxFrameSize
  }

  package func serialize<Bytes: GRPCContiguousBytes>(_ frame: ChannelFrame) throws -> Bytes {
    switch frame {
    case .request(let request):
      var writer = ProtoWriter()
      writer.writeBytes(field: 1, request.serialized())
      return Bytes(writer.bytes)
    case .response(let response):
      var writer = ProtoWriter()
      writer.writeBytes(field: 2, response.serialized())
      return Bytes(writer.bytes)
    case .empty, .oversized:
      return Bytes([])
    case .event(let event):
      var writer = ProtoWriter()
      writer.writeTag(field: 3, wireType: 2)
      writer.writeVarint(UInt64(event.bytes.count + event.appended.count))
      writer.bytes.reserveCapacity(writer.bytes.count + event.bytes.count + event.appended.count)
      writer.bytes += event.bytes
      writer.bytes += event.appended
      return Bytes(writer.bytes)
    }
  }

  package func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> ChannelFrame {
    try serializedMessageBytes.withUnsafeBytes { buffer in
      var reader = ProtoReader(buffer)
      var frame = ChannelFrame.empty
      while !reader.isAtEnd {
        let (field, wireType) = try reader.readTag()
        switch (field, wireType) {
        case (1, 2):
          frame = .request(try RawRpcRequest(bytes: try reader.readLengthDelimited()))
        case (2, 2):
          frame = .response(try RawRpcResponse(bytes: try reader.readLengthDelimited()))
        case (3, 2):
          frame = .event(try RawCloudEvent(bytes: Array(try reader.readLengthDelimited())))
        default:
          try reader.skip(wireType: wireType)
        }
      }
      guard buffer.count > maxFrameSize else { return frame }
      return .oversized(OversizedFrame(frame, size: buffer.count, limit: maxFrameSize))
    }
  }
}

/// Malformed protobuf bytes.
package struct ProtoWireError: Error, CustomStringConvertible {
  package var description: String
}

/// A minimal protobuf wire reader over a buffer.
struct ProtoReader {
  private let buffer: UnsafeRawBufferPointer
  private(set) var offset = 0

  init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

  var isAtEnd: Bool { offset >= buffer.count }

  mutating func readVarint() throws -> UInt64 {
    var result: UInt64 = 0
    var shift: UInt64 = 0
    while true {
      guard offset < buffer.count else { throw ProtoWireError(description: "truncated varint") }
      let byte = buffer[offset]
      offset += 1
      if shift == 63, byte > 1 { throw ProtoWireError(description: "varint overflows 64 bits") }
      result |= UInt64(byte & 0x7f) << shift
      if byte & 0x80 == 0 { return result }
      shift += 7
    }
  }

  mutating func readTag() throws -> (field: UInt64, wireType: UInt64) {
    let key = try readVarint()
    let field = key >> 3
    guard field > 0, field <= 0x1fff_ffff else { throw ProtoWireError(description: "invalid field number \(field)") }
    return (field, key & 7)
  }

  mutating func readLengthDelimited() throws -> UnsafeRawBufferPointer.SubSequence {
    let length = try readVarint()
    guard length <= UInt64(buffer.count - offset) else { throw ProtoWireError(description: "truncated length-delimited field") }
    let slice = buffer[offset..<(offset + Int(length))]
    offset += Int(length)
    return slice
  }

  mutating func readString() throws -> String {
    let slice = try readLengthDelimited()
    guard let string = String(validating: slice, as: UTF8.self) else {
      throw ProtoWireError(description: "a string field is not valid UTF-8")
    }
    return string
  }

  mutating func skip(wireType: UInt64) throws {
    switch wireType {
    case 0: _ = try readVarint()
    case 1: try advance(8)
    case 2: _ = try readLengthDelimited()
    case 5: try advance(4)
    default: throw ProtoWireError(description: "unsupported wire type \(wireType)")
    }
  }

  private mutating func advance(_ count: Int) throws {
    guard count <= buffer.count - offset else { throw ProtoWireError(description: "truncated fixed-width field") }
    offset += count
  }
}

/// A minimal protobuf wire writer.
struct ProtoWriter {
  var bytes: [UInt8] = []

  mutating func writeVarint(_ value: UInt64) {
    var value = value
    while value >= 0x80 {
      bytes.append(UInt8(value & 0x7f) | 0x80)
      value >>= 7
    }
    bytes.append(UInt8(value))
  }

  mutating func writeTag(field: UInt64, wireType: UInt64) {
    writeVarint(field << 3 | wireType)
  }

  mutating func writeBytes(field: UInt64, _ value: [UInt8]) {
    writeTag(field: field, wireType: 2)
    writeVarint(UInt64(value.count))
    bytes += value
  }
}
