import AgentCore
import GRPCCore

/// Who a caller is, from its `authorization: Bearer TOKEN`: the host's shared token (all access),
/// an identity of its credentials file, or, when the host requires neither, anonymous (all access).
struct Authenticator: Sendable {
  let sharedToken: String?
  let credentials: Credentials?

  /// Whether callers must present a token.
  var isOpen: Bool { sharedToken == nil && credentials == nil }

  /// The identity for an `authorization` value.
  ///
  /// - Throws: `AgentRuntimeError` (unauthenticated) when it is missing or unknown.
  func identity(authorization: String?) throws(AgentRuntimeError) -> Identity {
    if isOpen { return .anonymous }
    guard let authorization else {
      throw AgentRuntimeError(code: .unauthenticated, message: "missing 'authorization: Bearer <token>' metadata")
    }
    guard authorization.hasPrefix("Bearer ") else {
      throw AgentRuntimeError(code: .unauthenticated, message: "invalid bearer token")
    }
    let token = String(authorization.dropFirst(7))
    if let sharedToken, constantTimeEqual(Array(token.utf8), Array(sharedToken.utf8)) {
      return Identity(name: "shared-token", permissions: .all)
    }
    if let identity = credentials?.identity(forToken: token) { return identity }
    throw AgentRuntimeError(code: .unauthenticated, message: "invalid bearer token")
  }

  /// The identity of a gRPC call.
  func identity(_ metadata: Metadata) throws(RPCError) -> Identity {
    do {
      return try identity(authorization: metadata[stringValues: "authorization"].first(where: { _ in true }))
    } catch {
      throw RPCError(code: .unauthenticated, message: error.message)
    }
  }
}

/// Refuses every call without a known bearer token with UNAUTHENTICATED.
struct AuthenticationInterceptor: ServerInterceptor {
  let authenticator: Authenticator

  func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingServerRequest<Input>,
    context: ServerContext,
    next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
  ) async throws -> StreamingServerResponse<Output> {
    _ = try authenticator.identity(request.metadata)
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
