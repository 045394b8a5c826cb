public import AgentCore
import Crypto
public import Foundation

/// The identities a host knows, by the SHA-256 of their bearer tokens (the tokens themselves are
/// never stored).
///
/// The file `runtime-host --auth-file` reads is JSON:
///
/// ```json
/// {
///   "identities": [
///     {
///       "name": "chat-worker",
///       "token_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
///       "serve": ["chat", "chat.*"],
///       "publish": ["chat.events"],
///       "watch": ["chat.*"],
///       "call": ["llm"]
///     }
///   ]
/// }
/// ```
///
/// `token_sha256` is the hex SHA-256 of the token (`printf %s "$TOKEN" | sha256sum`). Each list
/// holds name patterns (``NamePattern``): a name, `PREFIX*`, or `*`; a missing list allows nothing.
public struct Credentials: Sendable {
  private var identities: [String: Identity]

  /// How many identities there are.
  public var count: Int { identities.count }

  /// Credentials from `(token, identity)` pairs (the tokens are hashed here).
  public init(_ entries: [(token: String, identity: Identity)]) {
    identities = Dictionary(entries.map { (Self.hash($0.token), $0.identity) }, uniquingKeysWith: { first, _ in first })
  }

  /// The identity whose token is `token`, if any.
  public func identity(forToken token: String) -> Identity? {
    identities[Self.hash(token)]
  }

  /// Reads a credentials file.
  ///
  /// - Throws: `AgentRuntimeError` (invalid argument) naming the file and what is wrong in it.
  public static func load(contentsOf path: String) throws(AgentRuntimeError) -> Credentials {
    let data: Data
    do {
      data = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
      throw AgentRuntimeError(code: .invalidArgument, message: "cannot read the credentials file '\(path)': \(error.localizedDescription)")
    }
    return try parse(data, source: path)
  }

  /// Parses the JSON of a credentials file; `source` names it in errors.
  public static func parse(_ data: Data, source: String = "credentials") throws(AgentRuntimeError) -> Credentials {
    struct File: Decodable {
      struct Entry: Decodable {
        var name: String
        var token_sha256: String
        var serve: [String]?
        var publish: [String]?
        var watch: [String]?
        var call: [String]?
      }
      var identities: [Entry]
    }
    let file: File
    do {
      file = try JSONDecoder().decode(File.self, from: data)
    } catch {
      throw AgentRuntimeError(code: .invalidArgument, message: "'\(source)' is not a credentials file: \(error)")
    }
    var identities: [String: Identity] = [:]
    for (index, entry) in file.identities.enumerated() {
      let where_ = "'\(source)', identity \(index + 1) ('\(entry.name)')"
      let hash = entry.token_sha256.lowercased()
      guard hash.count == 64, hash.allSatisfy(\.isHexDigit) else {
        throw AgentRuntimeError(code: .invalidArgument, message: "\(where_): token_sha256 must be 64 hex digits (printf %s TOKEN | sha256sum)")
      }
      guard identities[hash] == nil else {
        throw AgentRuntimeError(code: .invalidArgument, message: "\(where_): another identity has the same token")
      }
      func patterns(_ list: [String]?) throws(AgentRuntimeError) -> [NamePattern] {
        var patterns: [NamePattern] = []
        for text in list ?? [] {
          do {
            patterns.append(try NamePattern(text))
          } catch {
            throw AgentRuntimeError(code: .invalidArgument, message: "\(where_): \(error.message)")
          }
        }
        return patterns
      }
      identities[hash] = Identity(
        name: entry.name,
        permissions: Permissions(
          serve: try patterns(entry.serve), publish: try patterns(entry.publish), watch: try patterns(entry.watch),
          call: try patterns(entry.call)))
    }
    var credentials = Credentials([])
    credentials.identities = identities
    return credentials
  }

  /// The hex SHA-256 of a token.
  static func hash(_ token: String) -> String {
    SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
  }
}
