import AgentCore
import Crypto
import Foundation

/// The identities a host knows: by the SHA-256 of their bearer tokens (the tokens themselves are
/// never stored), by the subject of their TLS client certificates, and by JSON Web Tokens signed
/// with keys it trusts.
///
/// `runtime-host --auth-file` reads them from a JSON file (see ``load(contentsOf:)``), and reloads
/// it on SIGHUP or when it changes (``CredentialsFileWatcher``).
public struct Credentials: Sendable {
  private var byTokenHash: [String: Identity]
  private var bySubject: [String: Identity]
  var jwt: JWTTrust?

  /// How many identities there are (by token and by certificate; JWT identities are not listed).
  public var count: Int { byTokenHash.count + bySubject.count }

  /// Credentials from `(token, identity)` pairs (the tokens are hashed here) and certificate
  /// subjects (RFC 4514, as `openssl x509 -noout -subject -nameopt RFC2253` prints them).
  public init(_ entries: [(token: String, identity: Identity)], certificateSubjects: [String: Identity] = [:]) {
    byTokenHash = Dictionary(entries.map { (Self.hash($0.token), $0.identity) }, uniquingKeysWith: { first, _ in first })
    bySubject = certificateSubjects
  }

  init(byTokenHash: [String: Identity], bySubject: [String: Identity], jwt: JWTTrust?) {
    self.byTokenHash = byTokenHash
    self.bySubject = bySubject
    self.jwt = jwt
  }

  /// The identity whose token is `token`, if any (JWTs aside).
  public func identity(forToken token: String) -> Identity? {
    byTokenHash[Self.hash(token)]
  }

  /// The identity of a client certificate's subject, if any.
  public func identity(forCertificateSubject subject: String) -> Identity? {
    bySubject[subject]
  }

  /// Whether JSON Web Tokens are accepted.
  public var acceptsJWTs: Bool { jwt != nil }

  /// The hex SHA-256 of a token.
  static func hash(_ token: String) -> String {
    SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
  }
}
