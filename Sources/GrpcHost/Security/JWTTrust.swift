import AgentCore
import Foundation
import JWTKit
import Synchronization

/// The JSON Web Tokens a host accepts: signed by one of its keys (HS256, RS256 or ES256), for its
/// audience, from its issuer when one is set, not expired; their `permissions` claim says what the
/// caller may do.
///
/// A token's claims:
///
/// ```json
/// {
///   "sub": "chat-worker",
///   "aud": "agents-bus",
///   "iss": "https://auth.example.com",
///   "exp": 1767225600,
///   "permissions": {"serve": ["chat"], "publish": ["chat.*"], "watch": ["chat.*"], "call": ["llm"]}
/// }
/// ```
///
/// `sub` names the identity, `exp` is required (a token must expire), and a stream opened with a
/// token is closed (UNAUTHENTICATED) when it expires.
struct JWTTrust: Sendable {
  /// A verification key: its algorithm and its file (PEM public key or certificate for RS256 and
  /// ES256; the secret's bytes for HS256).
  struct Key: Sendable, Hashable {
    var algorithm: String
    var path: String
    var kid: String?
  }

  static let algorithms: Set<String> = ["HS256", "RS256", "ES256"]

  private let keys: JWTKeyCollection
  /// The algorithms of the keys: a token whose header names another is refused before any
  /// verification (no algorithm confusion).
  private let keyAlgorithms: Set<String>
  let audience: String
  let issuer: String?
  /// Clock skew allowed on `exp` and `nbf`.
  let leeway: Duration
  private let verified = VerifiedTokens(capacity: 4096)

  /// Loads the keys.
  ///
  /// - Throws: `AgentRuntimeError` (invalid argument) naming the key file and what is wrong.
  init(keys specs: [Key], audience: String, issuer: String?, leeway: Duration) async throws(AgentRuntimeError) {
    guard !specs.isEmpty else {
      throw AgentRuntimeError(code: .invalidArgument, message: "jwt: 'keys' lists no key")
    }
    guard !audience.isEmpty else {
      throw AgentRuntimeError(code: .invalidArgument, message: "jwt: 'audience' is required (tokens must be meant for this bus)")
    }
    let keys = JWTKeyCollection()
    for (index, spec) in specs.enumerated() {
      let algorithm = spec.algorithm.uppercased()
      guard Self.algorithms.contains(algorithm) else {
        throw AgentRuntimeError(
          code: .invalidArgument, message: "jwt: key '\(spec.path)': algorithm '\(spec.algorithm)' is not one of HS256, RS256, ES256")
      }
      let contents: Data
      do {
        contents = try Data(contentsOf: URL(fileURLWithPath: spec.path))
      } catch {
        throw AgentRuntimeError(code: .invalidArgument, message: "jwt: cannot read the key file '\(spec.path)': \(error.localizedDescription)")
      }
      // Every key is stored under a kid (its own, or one made up), since a collection keeps one
      // key without a kid; a token without a matching kid is tried against each.
      let kid = JWKIdentifier(string: spec.kid ?? "agents-key-\(index + 1)")
      do {
        switch algorithm {
        case "HS256":
          var secret = contents
          while let last = secret.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") { secret.removeLast() }
          guard secret.count >= 32 else {
            throw AgentRuntimeError(code: .invalidArgument, message: "an HS256 secret needs at least 32 bytes; this one has \(secret.count)")
          }
          await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256, kid: kid)
        case "RS256":
          let pem = String(decoding: contents, as: UTF8.self)
          let key = pem.contains("BEGIN CERTIFICATE") ? try Insecure.RSA.PublicKey(certificatePEM: pem) : try Insecure.RSA.PublicKey(pem: pem)
          await keys.add(rsa: key, digestAlgorithm: .sha256, kid: kid)
        default:
          let pem = String(decoding: contents, as: UTF8.self)
          let key = pem.contains("BEGIN CERTIFICATE") ? try ES256PublicKey(certificate: pem) : try ES256PublicKey(pem: pem)
          await keys.add(ecdsa: key, kid: kid)
        }
      } catch let error as AgentRuntimeError {
        throw AgentRuntimeError(code: .invalidArgument, message: "jwt: key '\(spec.path)': \(error.message)")
      } catch {
        throw AgentRuntimeError(
          code: .invalidArgument, message: "jwt: key '\(spec.path)' is not a \(algorithm) public key in PEM: \(error)")
      }
    }
    self.keys = keys
    self.keyAlgorithms = Set(specs.map { $0.algorithm.uppercased() })
    self.audience = audience
    self.issuer = issuer
    self.leeway = leeway
  }

  /// Whether `token` has a JWT's shape (three dot-separated parts).
  static func isJWT(_ token: String) -> Bool {
    token.utf8.count(where: { $0 == UInt8(ascii: ".") }) == 2
  }

  /// The identity `token` carries, and when it expires.
  ///
  /// - Throws: `AgentRuntimeError` (unauthenticated) saying why the token is refused.
  func caller(token: String, now: Date = Date()) async throws(AgentRuntimeError) -> (identity: Identity, expiry: Date) {
    if let hit = verified[token], hit.expiry > now { return hit }
    let claims = try await verify(token)
    let slack = TimeInterval(leeway.components.seconds)
    guard let exp = claims.exp else { throw Self.refused("it has no 'exp' claim: tokens must expire") }
    guard exp.value.addingTimeInterval(slack) > now else {
      throw Self.refused("it expired at \(exp.value.formatted(.iso8601))")
    }
    if let nbf = claims.nbf, nbf.value.addingTimeInterval(-slack) > now {
      throw Self.refused("it is not valid before \(nbf.value.formatted(.iso8601))")
    }
    guard let audiences = claims.aud?.value, audiences.contains(audience) else {
      throw Self.refused("its audience is \(claims.aud?.value ?? []), not '\(audience)'")
    }
    if let issuer, claims.iss?.value != issuer {
      throw Self.refused("its issuer is '\(claims.iss?.value ?? "")', not '\(issuer)'")
    }
    guard let subject = claims.sub?.value, !subject.isEmpty else { throw Self.refused("it has no 'sub' claim naming the identity") }
    let permissions: Permissions
    do {
      permissions = try (claims.permissions ?? PermissionLists()).permissions()
    } catch {
      throw Self.refused("its 'permissions' claim: \(error.message)")
    }
    let caller = (identity: Identity(name: subject, permissions: permissions), expiry: exp.value.addingTimeInterval(slack))
    verified[token] = caller
    return caller
  }

  private func verify(_ token: String) async throws(AgentRuntimeError) -> Claims {
    let algorithm = Self.headerAlgorithm(token)
    guard let algorithm, keyAlgorithms.contains(algorithm) else {
      throw Self.refused("its algorithm '\(algorithm ?? "?")' is not one this host has a key for (\(keyAlgorithms.sorted().joined(separator: ", ")))")
    }
    do {
      return try await keys.verify(token, as: Claims.self, iteratingKeys: true)
    } catch let error as JWTError {
      switch error.errorType {
      case .signatureVerificationFailed, .unknownKID, .noKeyProvided:
        throw Self.refused("its signature does not verify with any of the host's keys")
      case .malformedToken:
        throw Self.refused("it is not a well-formed JWT")
      default:
        throw Self.refused(error.reason ?? "\(error)")
      }
    } catch {
      throw Self.refused("its signature does not verify with any of the host's keys, or its claims do not decode (\(error))")
    }
  }

  /// The `alg` of the token's header.
  private static func headerAlgorithm(_ token: String) -> String? {
    guard let header = token.split(separator: ".", omittingEmptySubsequences: false).first else { return nil }
    var base64 = header.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
    guard let data = Data(base64Encoded: base64),
      let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    else { return nil }
    return object["alg"] as? String
  }

  private static func refused(_ why: String) -> AgentRuntimeError {
    AgentRuntimeError(code: .unauthenticated, message: "the bearer token is refused: \(why)")
  }

  /// The claims the host reads; its own checks run after the signature's, with the leeway.
  private struct Claims: JWTPayload {
    var sub: SubjectClaim?
    var aud: AudienceClaim?
    var iss: IssuerClaim?
    var exp: ExpirationClaim?
    var nbf: NotBeforeClaim?
    var permissions: PermissionLists?

    func verify(using algorithm: some JWTAlgorithm) async throws {}
  }
}

/// Lists of name patterns per action, as a credentials file and a JWT's `permissions` claim write
/// them; a missing list allows nothing.
struct PermissionLists: Codable, Sendable {
  var serve: [String]?
  var publish: [String]?
  var watch: [String]?
  var call: [String]?

  /// The permissions these lists grant.
  ///
  /// - Throws: `AgentRuntimeError` (invalid argument) for a pattern that is not one.
  func permissions() throws(AgentRuntimeError) -> Permissions {
    func patterns(_ list: [String]?) throws(AgentRuntimeError) -> [NamePattern] {
      var patterns: [NamePattern] = []
      for text in list ?? [] { patterns.append(try NamePattern(text)) }
      return patterns
    }
    return Permissions(serve: try patterns(serve), publish: try patterns(publish), watch: try patterns(watch), call: try patterns(call))
  }
}

/// Tokens already verified, so that a caller presenting the same token again (each HTTP request,
/// each registration) costs a lookup, not a signature check. Bounded; emptied when full.
private final class VerifiedTokens: Sendable {
  private let entries = Mutex<[String: (identity: Identity, expiry: Date)]>([:])
  private let capacity: Int

  init(capacity: Int) { self.capacity = capacity }

  subscript(token: String) -> (identity: Identity, expiry: Date)? {
    get { entries.withLock { $0[token] } }
    set {
      entries.withLock { entries in
        if entries.count >= capacity {
          let now = Date()
          entries = entries.filter { $0.value.expiry > now }
          if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        }
        entries[token] = newValue
      }
    }
  }
}
