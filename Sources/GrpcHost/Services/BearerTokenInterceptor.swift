import GRPCCore

/// Refuses every call that does not carry `authorization: Bearer <token>` with UNAUTHENTICATED.
struct BearerTokenInterceptor: ServerInterceptor {
  static let metadataKey = "authorization"

  private let expected: [UInt8]

  init(token: String) {
    self.expected = Array("Bearer \(token)".utf8)
  }

  func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingServerRequest<Input>,
    context: ServerContext,
    next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
  ) async throws -> StreamingServerResponse<Output> {
    guard let presented = request.metadata[stringValues: Self.metadataKey].first(where: { _ in true }) else {
      throw RPCError(code: .unauthenticated, message: "missing 'authorization: Bearer <token>' metadata")
    }
    guard constantTimeEquals(Array(presented.utf8), expected) else {
      throw RPCError(code: .unauthenticated, message: "invalid bearer token")
    }
    return try await next(request, context)
  }

  /// Compares without stopping at the first difference, so timing does not reveal the token.
  private func constantTimeEquals(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
    guard lhs.count == rhs.count else { return false }
    var difference: UInt8 = 0
    for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
    return difference == 0
  }
}
