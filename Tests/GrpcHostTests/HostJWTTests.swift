import AgentCore
import AgentTestSupport
import AgentWire
import Foundation
import GRPCCore
@testable import GrpcHost
import JWTKit
import NIOHTTP1
import SwiftProtobuf
import Testing

/// Keys made for one test run with openssl (RSA, EC P-256, an HMAC secret, and an RSA key the host
/// does not trust), and a credentials file whose `jwt` section trusts the first three.
struct JWTKeys: Sendable {
  let directory: URL
  static let audience = "agents-bus"
  static let issuer = "https://issuer.test"

  func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

  static func make() throws -> JWTKeys {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("agents-jwt-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let script = """
      set -e
      openssl genrsa -out rsa.key 2048 2>/dev/null
      openssl rsa -in rsa.key -pubout -out rsa.pub 2>/dev/null
      openssl genrsa -out other-rsa.key 2048 2>/dev/null
      openssl ecparam -name prime256v1 -genkey -noout -out ec.key 2>/dev/null
      openssl ec -in ec.key -pubout -out ec.pub 2>/dev/null
      openssl rand -hex 32 > hmac.secret
      """
    try runShellScript(script, in: directory)
    let keys = JWTKeys(directory: directory)
    try Data(keys.credentialsFile().utf8).write(to: directory.appendingPathComponent("auth.json"))
    return keys
  }

  /// A credentials file: one token identity, and the three trusted keys (relative paths).
  func credentialsFile(identities: String = "[]") -> String {
    """
    {"identities": \(identities),
     "jwt": {"audience": "\(Self.audience)", "issuer": "\(Self.issuer)",
             "keys": [{"algorithm": "RS256", "file": "rsa.pub"}, {"algorithm": "ES256", "file": "ec.pub"},
                      {"algorithm": "HS256", "file": "hmac.secret"}]}}
    """
  }

  func credentials() async throws -> Credentials { try await Credentials.load(contentsOf: path("auth.json")) }

  /// A token signed with `key` (rsa, other-rsa, ec, hmac).
  func token(
    key: String = "rsa", subject: String = "chat-worker", audience: String = JWTKeys.audience, issuer: String = JWTKeys.issuer,
    expires: Date? = Date().addingTimeInterval(600), serve: [String] = ["chat"], call: [String] = []
  ) async throws -> String {
    let keys = JWTKeyCollection()
    let pem = try String(contentsOfFile: path(key == "hmac" ? "hmac.secret" : "\(key).key"), encoding: .utf8)
    switch key {
    case "ec": await keys.add(ecdsa: try ES256PrivateKey(pem: pem))
    case "hmac": await keys.add(hmac: HMACKey(from: pem.trimmingCharacters(in: .newlines)), digestAlgorithm: .sha256)
    default: await keys.add(rsa: try Insecure.RSA.PrivateKey(pem: pem), digestAlgorithm: .sha256)
    }
    return try await keys.sign(
      TestClaims(
        sub: SubjectClaim(value: subject), aud: AudienceClaim(value: [audience]), iss: IssuerClaim(value: issuer),
        exp: expires.map { ExpirationClaim(value: $0) },
        permissions: PermissionLists(serve: serve, publish: nil, watch: nil, call: call)))
  }

  func remove() { try? FileManager.default.removeItem(at: directory) }
}

struct TestClaims: JWTPayload {
  var sub: SubjectClaim
  var aud: AudienceClaim
  var iss: IssuerClaim
  var exp: ExpirationClaim?
  var permissions: PermissionLists

  func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// JSON Web Tokens as credentials: HS256, RS256 and ES256 keys from files; expiry, key, audience
/// and issuer checked; the `permissions` claim enforced like a credentials file's.
@Suite("Host: JWT credentials", .timeLimit(.minutes(1)))
struct HostJWTTests {
  let keys: JWTKeys

  init() throws { keys = try JWTKeys.make() }

  func withJWTHost<R: Sendable>(_ body: @Sendable (AgentHost, HostAddress) async throws -> R) async throws -> R {
    let credentials = try await keys.credentials()
    defer { keys.remove() }
    return try await withTestHost(configure: { $0.credentials = credentials }, body)
  }

  @Test("a token from each trusted key (RS256, ES256, HS256) admits its subject with its claimed permissions")
  func algorithms() async throws {
    try await withJWTHost { _, address in
      for key in ["rsa", "ec", "hmac"] {
        let token = try await keys.token(key: key, subject: "chat-\(key)")
        try await withRawWorker(address, token: token) { worker in
          try await worker.register("chat")
          let refused = await #expect(throws: RPCError.self) { try await worker.register("payments") }
          #expect(refused?.code == .permissionDenied)
          #expect(refused?.message == "identity 'chat-\(key)' may not serve agent type 'payments'")
        }
      }
    }
  }

  @Test("refused with UNAUTHENTICATED and the reason: expired, unknown key, wrong audience, wrong issuer, no exp, not a JWT")
  func refusals() async throws {
    try await withJWTHost { _, address in
      let cases: [(String, String)] = [
        (try await keys.token(expires: Date().addingTimeInterval(-60)), "expired at"),
        (try await keys.token(key: "other-rsa"), "its signature does not verify with any of the host's keys"),
        (try await keys.token(audience: "another-service"), "its audience is [\"another-service\"], not 'agents-bus'"),
        (try await keys.token(issuer: "https://evil.test"), "its issuer is 'https://evil.test', not 'https://issuer.test'"),
        (try await keys.token(expires: nil), "it has no 'exp' claim: tokens must expire"),
        ("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "its algorithm 'none' is not one this host has a key for"),
        ("a.b.c", "its algorithm '?' is not one"),
      ]
      try await withClient(address) { rpc in
        for (token, reason) in cases {
          let refused = await #expect(throws: RPCError.self) {
            try await rpc.registerAgent(.with { $0.type = "chat" }, metadata: ["client-id": "c", "authorization": "Bearer \(token)"])
          }
          #expect(refused?.code == .unauthenticated)
          #expect(refused?.message.contains(reason) == true, "\(String(describing: refused?.message)) lacks \(reason)")
        }
      }
    }
  }

  @Test("the HTTP gateway takes the same tokens: 401 with the reason, 403 beyond the claims, 2xx within them")
  func gateway() async throws {
    let credentials = try await keys.credentials()
    defer { keys.remove() }
    try await withGateway(authToken: "shared", credentials: credentials) { fixture in
      let good = try await keys.token(key: "ec", subject: "web-app", serve: [], call: ["echo"])
      let call = try await http(
        .POST, "\(fixture.base)/v1/agents/echo/k?type=ChatMessage", body: #"{"text":"hi"}"#, headers: [("Authorization", "Bearer \(good)")])
      #expect(call.status == 200, "\(call.body)")
      let forbidden = try await http(
        .POST, "\(fixture.base)/v1/agents/thrower/k?type=ChatMessage", body: #"{"text":"hi"}"#, headers: [("Authorization", "Bearer \(good)")])
      #expect(forbidden.status == 403)
      #expect(forbidden.json["message"] as? String == "identity 'web-app' may not call agent type 'thrower'")
      let expired = try await keys.token(key: "ec", expires: Date().addingTimeInterval(-5), call: ["echo"])
      let refused = try await http(
        .POST, "\(fixture.base)/v1/agents/echo/k?type=ChatMessage", body: #"{"text":"hi"}"#, headers: [("Authorization", "Bearer \(expired)")])
      #expect(refused.status == 401)
      #expect((refused.json["message"] as? String)?.contains("expired at") == true, "\(refused.body)")
    }
  }

  @Test("a worker's channel opened with a token ends with UNAUTHENTICATED when the token expires")
  func expiryEndsChannel() async throws {
    try await withJWTHost { host, address in
      // JWT times are whole seconds: this one expires one to two seconds from now.
      let expiry = Date().addingTimeInterval(2).timeIntervalSince1970.rounded(.down)
      let token = try await keys.token(expires: Date(timeIntervalSince1970: expiry))
      try await withRawWorker(address, token: token) { worker in
        try await worker.register("chat")
        let end = try await worker.channelEnd.next(timeout: .seconds(5))
        #expect(end?.code == .unauthenticated)
        #expect(end?.message == "the token of identity 'chat-worker' expired")
        // Ended at the expiry, not before (the sweep runs every 250 ms).
        #expect(Date().timeIntervalSince1970 >= expiry)
      }
      #expect(host.authenticatedStreams == 0)
    }
  }

  @Test("bad jwt settings are refused naming the file and the key")
  func badSettings() async throws {
    defer { keys.remove() }
    let noAudience = Data(#"{"jwt": {"audience": "", "keys": [{"algorithm": "RS256", "file": "rsa.pub"}]}}"#.utf8)
    let audienceError = await #expect(throws: AgentRuntimeError.self) {
      try await Credentials.parse(noAudience, source: "auth.json", directory: keys.directory.path)
    }
    #expect(audienceError?.message == "'auth.json', jwt: 'audience' is required (tokens must be meant for this bus)")
    let shortSecret = keys.directory.appendingPathComponent("short.secret")
    try Data("too short".utf8).write(to: shortSecret)
    let short = Data(#"{"jwt": {"audience": "a", "keys": [{"algorithm": "HS256", "file": "short.secret"}]}}"#.utf8)
    let shortError = await #expect(throws: AgentRuntimeError.self) {
      try await Credentials.parse(short, source: "auth.json", directory: keys.directory.path)
    }
    #expect(shortError?.message.hasSuffix("an HS256 secret needs at least 32 bytes; this one has 9") == true, "\(String(describing: shortError))")
    let wrongKind = Data(#"{"jwt": {"audience": "a", "keys": [{"algorithm": "ES256", "file": "rsa.pub"}]}}"#.utf8)
    let kindError = await #expect(throws: AgentRuntimeError.self) {
      try await Credentials.parse(wrongKind, source: "auth.json", directory: keys.directory.path)
    }
    #expect(kindError?.message.contains("is not a ES256 public key in PEM") == true, "\(String(describing: kindError))")
    let unknown = Data(#"{"jwt": {"audience": "a", "keys": [{"algorithm": "none", "file": "rsa.pub"}]}}"#.utf8)
    let unknownError = await #expect(throws: AgentRuntimeError.self) {
      try await Credentials.parse(unknown, source: "auth.json", directory: keys.directory.path)
    }
    #expect(unknownError?.message.contains("algorithm 'none' is not one of HS256, RS256, ES256") == true)
  }
}
