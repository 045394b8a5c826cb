package import AgentCore
package import AgentWire
package import Foundation

/// JSON shapes of the gateway's HTTP API: messages in, CloudEvents and payloads out.
package enum GatewayJSON {
  /// A JSON message body as a payload named `typeName`.
  ///
  /// - Throws: `.invalidArgument` when the body is not JSON or the type name is missing.
  package static func payload(json body: Data, typeName: String?) throws(AgentRuntimeError) -> SerializedPayload {
    guard let typeName, !typeName.isEmpty else {
      throw AgentRuntimeError(
        code: .invalidArgument,
        message: "the message type name is missing: pass ?type=NAME or 'Content-Type: application/json; type=NAME'")
    }
    guard (try? JSONSerialization.jsonObject(with: body, options: .fragmentsAllowed)) != nil else {
      throw AgentRuntimeError(code: .invalidArgument, message: "the body is not valid JSON")
    }
    return SerializedPayload(typeName: typeName, contentType: ContentType.json, data: body)
  }

  /// The type name given by a `Content-Type` header's `type=` parameter, if any.
  package static func typeParameter(ofContentType header: String?) -> String? {
    guard let header else { return nil }
    for parameter in header.split(separator: ";").dropFirst() {
      let parts = parameter.split(separator: "=", maxSplits: 1)
      guard parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces).lowercased() == "type" else { continue }
      return parts[1].trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
    }
    return nil
  }

  /// The media type of a `Content-Type` header, lowercased, without parameters.
  package static func mediaType(_ header: String?) -> String? {
    if header == ContentType.json { return header }  // the usual case, without Foundation
    return header?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
  }

  /// Reads a structured-mode CloudEvent (`application/cloudevents+json`) as the event to publish
  /// to `topic` (its own `type` and `source`, if any, are replaced). The message type name is
  /// `dataschema` (as AutoGen's workers set it), or `typeName` when given.
  package static func cloudEvent(
    json body: Data, topic: TopicId, typeName: String?
  ) throws(AgentRuntimeError) -> Io_Cloudevents_V1_CloudEvent {
    guard let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else {
      throw AgentRuntimeError(code: .invalidArgument, message: "the body is not a JSON object (a structured-mode CloudEvent)")
    }
    /// A string attribute; an empty one counts as absent unless `keepEmpty`.
    func string(_ key: String, keepEmpty: Bool = false) throws(AgentRuntimeError) -> String? {
      guard let value = object[key] else { return nil }
      guard let text = value as? String else {
        throw AgentRuntimeError(code: .invalidArgument, message: "CloudEvent attribute '\(key)' must be a string")
      }
      return text.isEmpty && !keepEmpty ? nil : text
    }
    _ = (try string("type"), try string("source"))  // replaced by `topic`, but must be strings
    if let version = try string("specversion"), version != "1.0" {
      throw AgentRuntimeError(code: .invalidArgument, message: "unsupported CloudEvents specversion '\(version)': expected 1.0")
    }
    let schema = try string("dataschema")
    guard let name = typeName ?? schema, !name.isEmpty else {
      throw AgentRuntimeError(
        code: .invalidArgument, message: "the message type name is missing: set 'dataschema' or pass ?type=NAME")
    }
    let payload: SerializedPayload
    if object["data"] != nil, object["data_base64"] != nil {
      throw AgentRuntimeError(code: .invalidArgument, message: "the CloudEvent has both 'data' and 'data_base64': give one")
    }
    if let encoded = try string("data_base64", keepEmpty: true) {
      guard let data = Data(base64Encoded: encoded) else {
        throw AgentRuntimeError(code: .invalidArgument, message: "'data_base64' is not valid base64")
      }
      payload = SerializedPayload(typeName: name, contentType: try string("datacontenttype") ?? "application/octet-stream", data: data)
    } else if let data = object["data"] {
      let contentType = try string("datacontenttype") ?? ContentType.json
      guard mediaType(contentType) == ContentType.json else {
        throw AgentRuntimeError(
          code: .invalidArgument, message: "inline 'data' must be JSON (datacontenttype application/json); use data_base64 otherwise")
      }
      guard let bytes = try? JSONSerialization.data(withJSONObject: data, options: [.fragmentsAllowed, .withoutEscapingSlashes]) else {
        throw AgentRuntimeError(code: .invalidArgument, message: "'data' cannot be encoded as JSON")
      }
      payload = SerializedPayload(typeName: name, contentType: ContentType.json, data: bytes)
    } else {
      throw AgentRuntimeError(code: .invalidArgument, message: "the CloudEvent has neither 'data' nor 'data_base64'")
    }
    let event = PublishedEvent(topic: topic, sender: nil, messageId: try string("id") ?? UUID().uuidString, payload: payload)
    return try wireEvent(event)
  }

  /// The CloudEvent for an event the gateway publishes; a protobuf payload that is not a
  /// serialized `google.protobuf.Any` is the caller's mistake (`.invalidArgument`).
  package static func wireEvent(_ event: PublishedEvent) throws(AgentRuntimeError) -> Io_Cloudevents_V1_CloudEvent {
    do {
      return try Io_Cloudevents_V1_CloudEvent(event)
    } catch {
      throw AgentRuntimeError(code: .invalidArgument, message: error.message)
    }
  }

  /// A published event as a structured-mode CloudEvent: `data` inline for JSON, `data_base64`
  /// otherwise; the message type name in `dataschema`; the sender, when known, in
  /// `agagentsendertype` / `agagentsenderkey`; the host's sequence number in `sequence` when given.
  package static func cloudEvent(_ event: PublishedEvent, sequence: UInt64? = nil) -> Data {
    Data(cloudEventBytes(event, sequence: sequence))
  }

  /// ``cloudEvent(_:sequence:)`` as bytes, with its members in sorted order and on one line: a
  /// JSON payload goes in as it came (its line breaks, whitespace between JSON tokens, become
  /// spaces) once it parses, base64 in `data_base64` otherwise.
  static func cloudEventBytes(_ event: PublishedEvent, sequence: UInt64? = nil) -> [UInt8] {
    var object = JSONObjectWriter(capacity: 192 + event.payload.data.count)
    if let sender = event.sender {
      object.string(CloudEventAttribute.senderKey, sender.key)
      object.string(CloudEventAttribute.senderType, sender.type.name)
    }
    if isInlineJSON(event.payload) {
      object.raw("data", event.payload.data.lazy.map { $0 == 0x0A || $0 == 0x0D ? UInt8(ascii: " ") : $0 })
    } else {
      object.string("data_base64", event.payload.data.base64EncodedString())
    }
    object.string("datacontenttype", event.payload.contentType)
    object.string("dataschema", event.payload.typeName)
    object.string("id", event.messageId)
    if let sequence { object.string("sequence", String(sequence)) }
    object.string("source", event.topic.source)
    object.string("specversion", "1.0")
    object.string("type", event.topic.type)
    return object.finish()
  }

  /// A payload as the gateway returns it in an envelope: `{"type", "contentType", "data"}` for
  /// JSON, `"data_base64"` instead of `"data"` otherwise.
  package static func envelope(_ payload: SerializedPayload) -> [String: Any] {
    var object: [String: Any] = ["type": payload.typeName, "contentType": payload.contentType]
    if let inline = inlineJSON(payload) {
      object["data"] = inline
    } else {
      object["data_base64"] = payload.data.base64EncodedString()
    }
    return object
  }

  /// An error body: `{"code": ..., "message": ...}`.
  package static func error(_ error: AgentRuntimeError) -> Data {
    encode(["code": RpcErrorCode.wireName(error.code, gateway: true), "message": error.message])
  }

  package static func encode(_ object: Any) -> Data {
    (try? JSONSerialization.data(withJSONObject: object, options: [.fragmentsAllowed, .withoutEscapingSlashes, .sortedKeys]))
      ?? Data("null".utf8)
  }

  /// Whether `payload` goes inline as JSON: its content type says JSON and it parses.
  private static func isInlineJSON(_ payload: SerializedPayload) -> Bool {
    mediaType(payload.contentType) == ContentType.json
      && (try? JSONSerialization.jsonObject(with: payload.data, options: .fragmentsAllowed)) != nil
  }

  private static func inlineJSON(_ payload: SerializedPayload) -> Any? {
    guard mediaType(payload.contentType) == ContentType.json else { return nil }
    return try? JSONSerialization.jsonObject(with: payload.data, options: .fragmentsAllowed)
  }
}

extension RpcErrorCode {
  /// The code names the gateway reports, for every code (the wire names cover fewer).
  static func wireName(_ code: AgentRuntimeError.Code, gateway: Bool) -> String {
    switch code {
    case .alreadyExists: return "already-exists"
    case .notFound: return "not-found"
    case .unexpectedResponse: return "unexpected-response"
    case .unauthenticated: return "unauthenticated"
    case .internalError: return "internal"
    default: return wireName(code)
    }
  }
}

/// `GET /v1/agent-types`, encoded with `Codable` (a bus may have thousands of types; this is
/// several times faster than building `[String: Any]` for `JSONSerialization`).
/// `GET /healthz`.
struct Health: Encodable {
  struct Cluster: Encodable {
    var node: String
    var members: Int
    var linked: Int
    var problem: String?

    init(_ status: AgentHost.ClusterStatus) {
      node = status.node
      members = status.nodes.count
      linked = status.nodes.filter(\.linked).count
      problem = status.problem
    }
  }

  var status: String
  /// On a node of a cluster: its membership, and any problem with it.
  var cluster: Cluster?
}

struct AgentTypeListing: Encodable {
  struct Entry: Encodable {
    struct Subscription: Encodable {
      var id: String
      var topicType: String?
      var topicTypePrefix: String?
    }
    var type: String
    var workers: Int
    var instances: Int
    var calls: Int
    var errors: Int
    /// Milliseconds, over the type's latest answered calls; absent before any.
    var p50Ms: Double?
    var p99Ms: Double?
    var subscriptions: [Subscription]
    /// In a cluster: the nodes whose workers serve it (absent for a single host).
    var nodes: [String]?
  }
  var agentTypes: [Entry]

  init(_ types: [HostRouter.AgentTypeSummary]) {
    agentTypes = types.map { entry in
      Entry(
        type: entry.type.name, workers: entry.workers, instances: entry.instances, calls: entry.calls.calls,
        errors: entry.calls.errors, p50Ms: entry.calls.percentile(0.5)?.milliseconds,
        p99Ms: entry.calls.percentile(0.99)?.milliseconds,
        subscriptions: entry.subscriptions.map { subscription in
          switch subscription.filter {
          case .type(let type): Entry.Subscription(id: subscription.id, topicType: type)
          case .typePrefix(let prefix): Entry.Subscription(id: subscription.id, topicTypePrefix: prefix)
          }
        },
        nodes: entry.nodes.isEmpty ? nil : entry.nodes)
    }
  }
}

extension GatewayJSON {
  /// `value` as compact JSON (`Codable`).
  static func encoded(_ value: some Encodable) -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    return (try? encoder.encode(value)) ?? Data("null".utf8)
  }
}
