import AgentCore
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Synchronization
import X509

/// What a caller presented.
enum Credential: Sendable, Hashable {
  /// Nothing (a host that requires no credentials admits it).
  case none
  /// `authorization: Bearer TOKEN`: the shared token, a credentials file's token, or a JWT.
  case bearer(String)
  /// A TLS client certificate's subject (RFC 4514), for a host that requires mutual TLS.
  case certificate(subject: String)
}

/// An authenticated caller: who it is, what it presented, and until when that holds.
struct Caller: Sendable {
  var identity: Identity
  var credential: Credential
  /// When its credential expires (a JWT's `exp`); nil for one that does not.
  var expiry: Date?
  /// The credentials' generation it was checked against (see ``Authenticator/generation``).
  var generation: UInt64 = 0
}

/// Who a caller is: the host's shared token (all access), an identity of its credentials, or,
/// when the host requires neither, anonymous (all access).
///
/// The credentials can be replaced while the host runs (``replace(_:)``); a host that started
/// open stays open.
final class Authenticator: Sendable {
  private struct State {
    var sharedToken: String?
    var credentials: Credentials?
    var generation: UInt64 = 0
  }
  private let state: Mutex<State>
  /// Whether callers need no credentials (fixed when the host starts).
  let isOpen: Bool

  init(sharedToken: String?, credentials: Credentials?) {
    state = Mutex(State(sharedToken: sharedToken, credentials: credentials))
    isOpen = sharedToken == nil && credentials == nil
  }

  /// Replaces the credentials (a reload); the shared token stays.
  func replace(_ credentials: Credentials) {
    state.withLock { state in
      state.credentials = credentials
      state.generation += 1
    }
  }

  /// How many times the credentials were replaced: a caller checked against an older generation
  /// may have been revoked since.
  var generation: UInt64 { state.withLock { $0.generation } }

  /// What a gRPC call presented: its bearer token, else its client certificate.
  func credential(_ metadata: Metadata, _ context: ServerContext?) -> Credential {
    if let authorization = metadata[stringValues: "authorization"].first(where: { _ in true }) {
      return .bearer(authorization.hasPrefix("Bearer ") ? String(authorization.dropFirst(7)) : "")
    }
    if let certificate = (context?.transportSpecific as? HTTP2ServerTransport.Posix.Context)?.peerCertificate {
      return .certificate(subject: certificate.subject.description)
    }
    return .none
  }

  /// Who presented `credential`.
  ///
  /// - Throws: `AgentRuntimeError` (unauthenticated) saying why it is refused.
  func caller(_ credential: Credential) async throws(AgentRuntimeError) -> Caller {
    if isOpen { return Caller(identity: .anonymous, credential: credential) }
    let (sharedToken, credentials, generation) = state.withLock { ($0.sharedToken, $0.credentials, $0.generation) }
    switch credential {
    case .none:
      throw AgentRuntimeError(code: .unauthenticated, message: "missing 'authorization: Bearer <token>' metadata")
    case .bearer(let token):
      guard !token.isEmpty else { throw AgentRuntimeError(code: .unauthenticated, message: "invalid bearer token") }
      if let sharedToken, constantTimeEqual(Array(token.utf8), Array(sharedToken.utf8)) {
        return Caller(identity: Identity(name: "shared-token", permissions: .all), credential: credential, generation: generation)
      }
      if let identity = credentials?.identity(forToken: token) {
        return Caller(identity: identity, credential: credential, generation: generation)
      }
      if let jwt = credentials?.jwt, JWTTrust.isJWT(token) {
        let (identity, expiry) = try await jwt.caller(token: token)
        return Caller(identity: identity, credential: credential, expiry: expiry, generation: generation)
      }
      throw AgentRuntimeError(code: .unauthenticated, message: "invalid bearer token")
    case .certificate(let subject):
      if let identity = credentials?.identity(forCertificateSubject: subject) {
        return Caller(identity: identity, credential: credential, generation: generation)
      }
      throw AgentRuntimeError(
        code: .unauthenticated,
        message: "no 'authorization: Bearer <token>' metadata, and no identity for the client certificate '\(subject)'")
    }
  }

  /// Who made a gRPC call.
  func caller(_ metadata: Metadata, _ context: ServerContext?) async throws(RPCError) -> Caller {
    do {
      return try await caller(credential(metadata, context))
    } catch {
      throw RPCError(code: .unauthenticated, message: error.message)
    }
  }

  /// The identity that made a gRPC call.
  func identity(_ metadata: Metadata, _ context: ServerContext?) async throws(RPCError) -> Identity {
    try await caller(metadata, context).identity
  }
}

/// Refuses every call without known credentials with UNAUTHENTICATED.
struct AuthenticationInterceptor: ServerInterceptor {
  let authenticator: Authenticator

  func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingServerRequest<Input>,
    context: ServerContext,
    next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
  ) async throws -> StreamingServerResponse<Output> {
    _ = try await authenticator.caller(request.metadata, context)
    return try await next(request, context)
  }
}

/// Compares without an early exit, so timing does not reveal how much of a token matched.
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
  guard a.count == b.count else { return false }
  var difference: UInt8 = 0
  for (x, y) in zip(a, b) { difference |= x ^ y }
  return difference == 0
}
