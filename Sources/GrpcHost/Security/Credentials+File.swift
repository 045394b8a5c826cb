public import AgentCore
public import Foundation

/// The credentials file (`runtime-host --auth-file`): JSON.
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
///     },
///     {
///       "name": "billing-worker",
///       "certificate_subject": "CN=billing-worker,O=Example",
///       "serve": ["payments"]
///     }
///   ],
///   "jwt": {
///     "audience": "agents-bus",
///     "issuer": "https://auth.example.com",
///     "leeway_seconds": 5,
///     "keys": [
///       {"algorithm": "RS256", "file": "keys/issuer-rsa.pem", "kid": "2026-11"},
///       {"algorithm": "ES256", "file": "keys/issuer-ec.pem"},
///       {"algorithm": "HS256", "file": "keys/shared-secret"}
///     ]
///   }
/// }
/// ```
///
/// - An identity has a `token_sha256` (the hex SHA-256 of its bearer token:
///   `printf %s "$TOKEN" | sha256sum`) or a `certificate_subject` (its TLS client certificate's
///   subject in RFC 4514 form, as `openssl x509 -noout -subject -nameopt RFC2253` prints it; the
///   host must require mutual TLS). A caller that presents a bearer token is identified by it.
/// - `serve`, `publish`, `watch` and `call` hold name patterns (`NamePattern`, from AgentCore): a name,
///   `PREFIX*`, or `*`; a missing list allows nothing.
/// - `jwt` (optional) accepts JSON Web Tokens signed by one of `keys` (PEM public keys or
///   certificates for RS256 and ES256, the secret's bytes for HS256, at least 32; relative paths
///   are from the credentials file's folder), whose `aud` includes `audience`, whose `iss` is
///   `issuer` when set, and which have not expired (`exp` is required). The token's `sub` names
///   the identity and its `permissions` claim holds the four lists above.
extension Credentials {
  /// Reads a credentials file (and the JWT keys it names).
  ///
  /// - Throws: `AgentRuntimeError` (invalid argument) naming the file and what is wrong in it.
  public static func load(contentsOf path: String) async throws(AgentRuntimeError) -> Credentials {
    let data: Data
    do {
      data = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
      throw AgentRuntimeError(code: .invalidArgument, message: "cannot read the credentials file '\(path)': \(error.localizedDescription)")
    }
    return try await parse(data, source: path, directory: URL(fileURLWithPath: path).deletingLastPathComponent().path)
  }

  /// Parses the JSON of a credentials file; `source` names it in errors, and the JWT keys' relative
  /// paths are from `directory`.
  public static func parse(
    _ data: Data, source: String = "credentials", directory: String = FileManager.default.currentDirectoryPath
  ) async throws(AgentRuntimeError) -> Credentials {
    let file: File
    do {
      file = try JSONDecoder().decode(File.self, from: data)
    } catch {
      throw AgentRuntimeError(code: .invalidArgument, message: "'\(source)' is not a credentials file: \(error)")
    }
    var byTokenHash: [String: Identity] = [:]
    var bySubject: [String: Identity] = [:]
    for (index, entry) in (file.identities ?? []).enumerated() {
      let where_ = "'\(source)', identity \(index + 1) ('\(entry.name)')"
      let permissions: Permissions
      do {
        permissions = try entry.lists.permissions()
      } catch {
        throw AgentRuntimeError(code: .invalidArgument, message: "\(where_): \(error.message)")
      }
      let identity = Identity(name: entry.name, permissions: permissions)
      switch (entry.token_sha256, entry.certificate_subject) {
      case (let hash?, nil):
        let hash = hash.lowercased()
        guard hash.count == 64, hash.allSatisfy(\.isHexDigit) else {
          throw AgentRuntimeError(code: .invalidArgument, message: "\(where_): token_sha256 must be 64 hex digits (printf %s TOKEN | sha256sum)")
        }
        guard byTokenHash[hash] == nil else {
          throw AgentRuntimeError(code: .invalidArgument, message: "\(where_): another identity has the same token")
        }
        byTokenHash[hash] = identity
      case (nil, let subject?):
        guard !subject.isEmpty, bySubject[subject] == nil else {
          throw AgentRuntimeError(code: .invalidArgument, message: "\(where_): certificate_subject is empty or another identity's")
        }
        bySubject[subject] = identity
      default:
        throw AgentRuntimeError(code: .invalidArgument, message: "\(where_): give exactly one of token_sha256 and certificate_subject")
      }
    }
    var jwt: JWTTrust?
    if let settings = file.jwt {
      let keys = settings.keys.map { key in
        JWTTrust.Key(
          algorithm: key.algorithm,
          path: key.file.hasPrefix("/") ? key.file : URL(fileURLWithPath: directory).appendingPathComponent(key.file).path,
          kid: key.kid)
      }
      do {
        jwt = try await JWTTrust(
          keys: keys, audience: settings.audience, issuer: settings.issuer, leeway: .seconds(settings.leeway_seconds ?? 0))
      } catch {
        throw AgentRuntimeError(code: .invalidArgument, message: "'\(source)', \(error.message)")
      }
    }
    return Credentials(byTokenHash: byTokenHash, bySubject: bySubject, jwt: jwt)
  }

  private struct File: Decodable {
    struct Entry: Decodable {
      var name: String
      var token_sha256: String?
      var certificate_subject: String?
      var lists: PermissionLists

      enum CodingKeys: String, CodingKey {
        case name, token_sha256, certificate_subject
      }

      init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        token_sha256 = try container.decodeIfPresent(String.self, forKey: .token_sha256)
        certificate_subject = try container.decodeIfPresent(String.self, forKey: .certificate_subject)
        lists = try PermissionLists(from: decoder)
      }
    }
    struct JWT: Decodable {
      struct Key: Decodable {
        var algorithm: String
        var file: String
        var kid: String?
      }
      var audience: String
      var issuer: String?
      var leeway_seconds: Int64?
      var keys: [Key]
    }
    var identities: [Entry]?
    var jwt: JWT?
  }
}
