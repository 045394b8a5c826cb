public import Foundation
public import SwiftProtobuf

/// Converts one message type to and from bytes of one content type.
///
/// The runtime ships ``JSONMessageSerializer`` and ``ProtobufMessageSerializer``; register them in
/// a ``SerializationRegistry``.
public protocol MessageSerializer: Sendable {
  /// The type name carried on the wire.
  var typeName: String { get }
  /// The MIME type this serializer produces.
  var contentType: String { get }
  /// The Swift type this serializer handles.
  var messageType: any Sendable.Type { get }
  /// Serializes `message`, which is of ``messageType``.
  func serialize(_ message: any Sendable) throws -> Data
  /// Deserializes bytes into a value of ``messageType``.
  func deserialize(_ data: Data) throws -> any Sendable
}

/// Serializes a `Codable` type as JSON (`application/json`).
///
/// The type name is the bare Swift type name unless given, and fields are encoded with the names
/// as written, so a Python dataclass with the same name and fields decodes the bytes and vice
/// versa. Keys are sorted so the bytes are stable.
///
/// Python's dataclass decoding is strict: every field the dataclass declares without a default
/// must be present. Swift omits `nil` optionals, so give such fields a default on the Python side.
public struct JSONMessageSerializer<Message: Codable & Sendable>: MessageSerializer {
  public let typeName: String
  public var contentType: String { ContentType.json }
  public var messageType: any Sendable.Type { Message.self }

  /// Creates a serializer; `typeName` defaults to the bare Swift type name.
  public init(_ type: Message.Type = Message.self, typeName: String? = nil) {
    self.typeName = typeName ?? String(describing: Message.self)
  }

  public func serialize(_ message: any Sendable) throws -> Data {
    guard let message = message as? Message else {
      throw AgentRuntimeError(
        code: .serializationFailed,
        message: "JSON serializer for '\(typeName)' was given a \(type(of: message))"
      )
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return try encoder.encode(message)
  }

  public func deserialize(_ data: Data) throws -> any Sendable {
    try JSONDecoder().decode(Message.self, from: data)
  }
}

/// Serializes a SwiftProtobuf message (`application/x-protobuf`).
///
/// The type name is the message's full proto name (for example `"agents.AgentId"`), and the bytes
/// are a serialized `google.protobuf.Any` wrapping the message, as AutoGen expects.
public struct ProtobufMessageSerializer<Message: SwiftProtobuf.Message>: MessageSerializer {
  public var typeName: String { Message.protoMessageName }
  public var contentType: String { ContentType.protobuf }
  public var messageType: any Sendable.Type { Message.self }

  /// Creates a serializer.
  public init(_ type: Message.Type = Message.self) {}

  public func serialize(_ message: any Sendable) throws -> Data {
    guard let message = message as? Message else {
      throw AgentRuntimeError(
        code: .serializationFailed,
        message: "protobuf serializer for '\(typeName)' was given a \(type(of: message))"
      )
    }
    return try Google_Protobuf_Any(message: message).serializedBytes()
  }

  public func deserialize(_ data: Data) throws -> any Sendable {
    let any = try Google_Protobuf_Any(serializedBytes: data)
    guard any.isA(Message.self) else {
      throw AgentRuntimeError(
        code: .serializationFailed,
        message: "expected a google.protobuf.Any holding '\(typeName)', got '\(any.typeURL)'"
      )
    }
    return try Message(unpackingAny: any)
  }
}
