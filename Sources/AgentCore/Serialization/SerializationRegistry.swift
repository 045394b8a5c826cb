import Foundation
public import SwiftProtobuf

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

  /// Registers `type` the way it serializes by itself, unless a serializer for it is already
  /// here: a protobuf message as protobuf (its full proto name), a `Codable` type as JSON (its
  /// bare Swift type name).
  ///
  /// - Returns: whether `type` can now be serialized.
  @discardableResult
  public mutating func registerIfSerializable(_ type: Any.Type) -> Bool {
    if canSerialize(type) { return true }
    if let message = type as? any SwiftProtobuf.Message.Type {
      registerProtobuf(message)
      return true
    }
    if let codable = type as? any (Codable & Sendable).Type {
      registerJSON(codable)
      return true
    }
    return false
  }

  /// Adds `other`'s serializers for the types and wire names not registered here: what is
  /// registered here wins.
  public mutating func formUnion(_ other: SerializationRegistry) {
    for (key, serializer) in other.byWireName where byWireName[key] == nil { byWireName[key] = serializer }
    for (key, serializer) in other.bySwiftType where bySwiftType[key] == nil { bySwiftType[key] = serializer }
  }

  /// The message round-tripped through its serialized form, as a peer would receive it: how the
  /// in-process runtime checks, when asked to, that every message crosses the wire.
  ///
  /// - Throws: ``AgentRuntimeError/Code/serializationFailed`` when `message`'s type has no
  ///   serializer or does not encode and decode.
  public func roundTrip(_ message: any Sendable) throws(AgentRuntimeError) -> any Sendable {
    if message is UnknownPayload { return message }
    let payload = try serialize(message)
    let decoded = try deserialize(payload)
    if decoded is UnknownPayload {
      throw AgentRuntimeError(
        code: .serializationFailed,
        message: "\(type(of: message)) serializes as '\(payload.typeName)' (\(payload.contentType)), which no serializer reads back")
    }
    return decoded
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
