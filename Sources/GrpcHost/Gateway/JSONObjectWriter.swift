/// A JSON object written member by member into bytes.
///
/// For the gateway's hot path, the CloudEvent of every tapped publish: building a
/// `[String: Any]` for `JSONSerialization` (and parsing a JSON payload only to write it again)
/// cost several times more than the rest of the tap together. Strings are escaped as RFC 8259
/// requires (quote, backslash, control characters); everything else is written as is.
struct JSONObjectWriter {
  private(set) var bytes: [UInt8]
  private var isEmpty = true

  init(capacity: Int = 256) {
    bytes = []
    bytes.reserveCapacity(capacity)
    bytes.append(UInt8(ascii: "{"))
  }

  /// Adds `"key": "value"`.
  mutating func string(_ key: String, _ value: String) {
    member(key)
    Self.appendString(value, to: &bytes)
  }

  /// Adds `"key": json`, where `json` is already a valid JSON text.
  mutating func raw(_ key: String, _ json: some Sequence<UInt8>) {
    member(key)
    bytes.append(contentsOf: json)
  }

  /// The object, closed.
  consuming func finish() -> [UInt8] {
    bytes.append(UInt8(ascii: "}"))
    return bytes
  }

  private mutating func member(_ key: String) {
    if !isEmpty { bytes.append(UInt8(ascii: ",")) }
    isEmpty = false
    Self.appendString(key, to: &bytes)
    bytes.append(UInt8(ascii: ":"))
  }

  /// Appends `value` as a JSON string, quoted and escaped.
  static func appendString(_ value: String, to bytes: inout [UInt8]) {
    bytes.append(UInt8(ascii: "\""))
    for byte in value.utf8 {
      switch byte {
      case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
      case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
      case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
      case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
      case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
      case 0..<0x20:
        bytes.append(contentsOf: [
          UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xF)],
        ])
      default: bytes.append(byte)
      }
    }
    bytes.append(UInt8(ascii: "\""))
  }

  private static let hexDigits = Array("0123456789abcdef".utf8)
}
