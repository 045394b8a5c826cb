import Foundation
public import Logging

/// A swift-log handler that writes one JSON object per line, for log pipelines (Loki, Elastic,
/// CloudWatch...):
///
///     {"timestamp":"2026-11-21T10:00:00.123Z","level":"info","label":"agents.host","message":"worker connected","client-id":"..."}
///
/// Metadata keys become top-level fields (a key named like a fixed field gets a `metadata.` prefix);
/// nested metadata is written as JSON.
///
/// ```swift
/// LoggingSystem.bootstrap { label in JSONLogHandler(label: label) }
/// ```
public struct JSONLogHandler: LogHandler {
  /// This handler's label.
  public let label: String
  public var logLevel: Logger.Level = .info
  public var metadata: Logger.Metadata = [:]
  public var metadataProvider: Logger.MetadataProvider?
  private let write: @Sendable (String) -> Void

  /// A handler writing to standard error.
  public init(label: String, metadataProvider: Logger.MetadataProvider? = nil) {
    self.init(label: label, metadataProvider: metadataProvider) { line in
      FileHandle.standardError.write(Data(line.utf8))
    }
  }

  /// A handler handing each line (with its newline) to `write`.
  public init(label: String, metadataProvider: Logger.MetadataProvider? = nil, write: @escaping @Sendable (String) -> Void) {
    self.label = label
    self.metadataProvider = metadataProvider
    self.write = write
  }

  public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  public func log(event: LogEvent) {
    var merged = metadata
    if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
    if let own = event.metadata { merged.merge(own) { _, new in new } }
    var fields: [(String, String)] = [
      ("timestamp", Self.quoted(Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))),
      ("level", Self.quoted(event.level.rawValue)),
      ("label", Self.quoted(label)),
      ("message", Self.quoted("\(event.message)")),
      ("source", Self.quoted(event.source)),
    ]
    let fixed = Set(fields.map(\.0))
    for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
      fields.append((fixed.contains(key) ? "metadata.\(key)" : key, Self.json(value)))
    }
    write("{" + fields.map { "\(Self.quoted($0.0)):\($0.1)" }.joined(separator: ",") + "}\n")
  }

  private static func json(_ value: Logger.Metadata.Value) -> String {
    switch value {
    case .string(let string): quoted(string)
    case .stringConvertible(let convertible): quoted(convertible.description)
    case .array(let values): "[" + values.map(json).joined(separator: ",") + "]"
    case .dictionary(let entries):
      "{" + entries.sorted(by: { $0.key < $1.key }).map { "\(quoted($0.key)):\(json($0.value))" }.joined(separator: ",") + "}"
    }
  }

  /// A JSON string literal.
  static func quoted(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": result += "\\\""
      case "\\": result += "\\\\"
      case "\n": result += "\\n"
      case "\r": result += "\\r"
      case "\t": result += "\\t"
      case _ where scalar.value < 0x20:
        result += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
      default: result.unicodeScalars.append(scalar)
      }
    }
    return result + "\""
  }
}
