import Foundation
import SwiftProtobuf

/// The message types a runtime can put on the wire, keyed by (type name, content type).
///
/// Build one explicitly before starting a runtime; the runtime keeps it frozen.
///
/// ```swift
/// var serializers = SerializationRegistry()
/// serializers.registerJSON(ChatMessage.self)
/// serializers.registerProtobuf(Google_Protobuf_StringValue.self)
/// ```
///
/// A payload of an unregistered type deserializes to ``UnknownPayload``, never to nothing.
public struct SerializationRegistry: Sendable {
  private struct Key: Hashable {
    var typeName: String
    var contentType: String
  }

  private var byWireName: [Key: any MessageSerializer] = [:]
  /// The serializer used when sending a Swift type (the last one registered for it).
  private var bySwiftType: [ObjectIdentifier: any MessageSerializer] = [:]

  public init() {}

  /// A registry with `types` registered as JSON, each named by its bare Swift type name; usable as
  /// a `let`:
  ///
  /// ```swift
  /// let serializers = SerializationRegistry(json: TranslateRequest.self, TranslateReply.self)
  /// ```
  public init(json types: any (Codable & Sendable).Type...) {
    for type in types { registerJSON(type) }
  }

  /// Registers a serializer. A later registration for the same type name and content type
  /// replaces the earlier one.
  public mutating func register(_ serializer: some MessageSerializer) {
    byWireName[Key(typeName: serializer.typeName, contentType: serializer.contentType)] = serializer
    bySwiftType[ObjectIdentifier(serializer.messageType)] = serializer
  }

  /// Registers `type` as JSON, named by its bare Swift type name unless `typeName` is given.
  public mutating func registerJSON<M: Codable & Sendable>(_ type: M.Type, typeName: String? = nil) {
    register(JSONMessageSerializer(type, typeName: typeName))
  }

  /// Registers a protobuf message type, named by its full proto name.
  public mutating func registerProtobuf<M: SwiftProtobuf.Message>(_ type: M.Type) {
    register(ProtobufMessageSerializer(type))
  }

  /// The registered (type name, content type) pairs.
  public var registeredTypes: [(typeName: String, contentType: String)] {
    byWireName.keys.map { ($0.typeName, $0.contentType) }.sorted { $0.typeName < $1.typeName }
  }

  /// Whether a serializer is registered for values of `type`.
  public func canSerialize(_ type: Any.Type) -> Bool {
    bySwiftType[ObjectIdentifier(type)] != nil
  }

  /// Serializes `message`. An ``UnknownPayload`` passes through as it arrived.
  ///
  /// - Throws: ``AgentRuntimeError/Code/serializationFailed`` when no serializer is registered
  ///   for the message's type, or encoding fails.
  public func serialize(_ message: any Sendable) throws(AgentRuntimeError) -> SerializedPayload {
    if let unknown = message as? UnknownPayload { return unknown.payload }
    guard let serializer = bySwiftType[ObjectIdentifier(type(of: message))] else {
      throw AgentRuntimeError(
        code: .serializationFailed,
        message: "no serializer registered for \(type(of: message)); register it with "
          + "registerJSON(_:) or registerProtobuf(_:)"
      )
    }
    do {
      return SerializedPayload(
        typeName: serializer.typeName,
        contentType: serializer.contentType,
        data: try serializer.serialize(message)
      )
    } catch {
      throw AgentRuntimeError(
        code: .serializationFailed,
        message: "could not serialize \(serializer.typeName) as \(serializer.contentType): \(error)",
        cause: error
      )
    }
  }

  /// Deserializes `payload`. An unregistered (type name, content type) gives an
  /// ``UnknownPayload``.
  ///
  /// - Throws: ``AgentRuntimeError/Code/serializationFailed`` when the type is registered but
  ///   the bytes do not decode.
  public func deserialize(_ payload: SerializedPayload) throws(AgentRuntimeError) -> any Sendable {
    let key = Key(typeName: payload.typeName, contentType: payload.contentType)
    guard let serializer = byWireName[key] else {
      return UnknownPayload(payload)
    }
    do {
      return try serializer.deserialize(payload.data)
    } catch {
      throw AgentRuntimeError(
        code: .serializationFailed,
        message: "could not deserialize \(payload): \(error)",
        cause: error
      )
    }
  }
}
