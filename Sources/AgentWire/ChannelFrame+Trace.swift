/// Reading and overriding the trace context of raw frames (W3C `traceparent`/`tracestate` with an
/// OpenTelemetry tracer; whatever keys the installed tracer propagates with), for the host's
/// spans. Only called when the host traces: routing never reads these otherwise.
///
/// A later entry of a protobuf `map` overrides an earlier one with the same key (protobuf's
/// parsing rule, which AutoGen's Python runtime follows too), so overriding is an append.
extension RawRpcRequest {
  /// The `metadata` entries (all of them, or those whose keys are in `keys`).
  package func metadata(_ keys: Set<String>? = nil) -> [String: String] {
    mapEntries(rest, field: 6, keys: keys) { value in String(validating: value, as: UTF8.self) }
  }

  /// Sets a `metadata` entry, overriding any received with the same key.
  package mutating func setMetadata(_ key: String, _ value: String) {
    rest += mapEntry(field: 6, key: key, value: Array(value.utf8))
  }
}

extension RawCloudEvent {
  /// The `ce_string` attributes (all of them, or those whose keys are in `keys`).
  package func stringAttributes(_ keys: Set<String>? = nil) -> [String: String] {
    mapEntries(bytes + appended, field: 5, keys: keys) { value in
      var reader = ProtoReader(UnsafeRawBufferPointer(rebasing: value))
      while !reader.isAtEnd {
        guard let (field, wireType) = try? reader.readTag() else { return nil }
        if (field, wireType) == (3, 2) { return try? reader.readString() }  // ce_string
        guard (try? reader.skip(wireType: wireType)) != nil else { return nil }
      }
      return nil
    }
  }
}

extension RawRpcResponse {
  /// The `error` text (field 3); nil when the response is not an error.
  package var errorText: String? {
    guard isError else { return nil }
    var text: String?
    _ = try? rest.withUnsafeBytes { buffer in
      var reader = ProtoReader(buffer)
      while !reader.isAtEnd {
        let (field, wireType) = try reader.readTag()
        if (field, wireType) == (3, 2) { text = try reader.readString() } else { try reader.skip(wireType: wireType) }
      }
    }
    return text
  }
}

/// The entries of the `map<string, …>` field `field` of a serialized message (whose keys are in
/// `keys`, when given), with `value` reading each entry's value (nil: left out). Later entries override
/// earlier ones; a malformed message yields what was read before the fault.
private func mapEntries(
  _ message: [UInt8], field mapField: UInt64, keys: Set<String>?,
  value: (UnsafeRawBufferPointer.SubSequence) -> String?
) -> [String: String] {
  var entries: [String: String] = [:]
  message.withUnsafeBytes { buffer in
    var reader = ProtoReader(buffer)
    while !reader.isAtEnd {
      guard let (field, wireType) = try? reader.readTag() else { return }
      guard field == mapField, wireType == 2 else {
        guard (try? reader.skip(wireType: wireType)) != nil else { return }
        continue
      }
      guard let entry = try? reader.readLengthDelimited() else { return }
      var entryReader = ProtoReader(UnsafeRawBufferPointer(rebasing: entry))
      var key: String?
      var text: String?
      while !entryReader.isAtEnd {
        guard let (entryField, entryWireType) = try? entryReader.readTag() else { break }
        if (entryField, entryWireType) == (1, 2) {
          key = try? entryReader.readString()
          if let key, let keys, !keys.contains(key) { break }
        } else if (entryField, entryWireType) == (2, 2), let bytes = try? entryReader.readLengthDelimited() {
          text = value(bytes)
        } else if (try? entryReader.skip(wireType: entryWireType)) == nil {
          break
        }
      }
      if let key, keys?.contains(key) ?? true, let text { entries[key] = text }
    }
  }
  return entries
}

/// One entry of a `map<string, …>` field: the field's bytes, to append to a message.
private func mapEntry(field: UInt64, key: String, value: [UInt8]) -> [UInt8] {
  var entry = ProtoWriter()
  entry.writeBytes(field: 1, Array(key.utf8))
  entry.writeBytes(field: 2, value)
  var writer = ProtoWriter()
  writer.writeBytes(field: field, entry.bytes)
  return writer.bytes
}
