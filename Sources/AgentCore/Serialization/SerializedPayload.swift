public import Foundation

/// A message in serialized form: its type name, MIME content type, and bytes.
///
/// This is what crosses process boundaries (`agents.Payload` on the wire).
public struct SerializedPayload: Hashable, Sendable, CustomStringConvertible {
  /// The message's type name: the bare Swift type name for JSON, the full proto name for
  /// protobuf (for example `"ChatMessage"` or `"google.protobuf.StringValue"`).
  public var typeName: String
  /// The MIME type: ``ContentType/json`` or ``ContentType/protobuf``.
  public var contentType: String
  /// The bytes: UTF-8 JSON, or a serialized `google.protobuf.Any`.
  public var data: Data

  /// Creates a payload.
  public init(typeName: String, contentType: String, data: Data) {
    self.typeName = typeName
    self.contentType = contentType
    self.data = data
  }

  public var description: String {
    "\(typeName) (\(contentType), \(data.count) bytes)"
  }
}

/// The content types the runtime understands.
public enum ContentType {
  /// `application/json`: UTF-8 JSON text.
  public static let json = "application/json"
  /// `application/x-protobuf`: a serialized `google.protobuf.Any` wrapping the message.
  public static let protobuf = "application/x-protobuf"
}

/// A message whose type the receiving runtime has no serializer for.
///
/// Agents receive it in place of the decoded message, so nothing is silently dropped; a
/// ``RoutedAgent`` can register a handler for `UnknownPayload` to deal with it.
public struct UnknownPayload: Hashable, Sendable, CustomStringConvertible {
  /// The payload as it arrived.
  public var payload: SerializedPayload

  /// Wraps a payload.
  public init(_ payload: SerializedPayload) {
    self.payload = payload
  }

  public var description: String { "UnknownPayload(\(payload))" }
}
