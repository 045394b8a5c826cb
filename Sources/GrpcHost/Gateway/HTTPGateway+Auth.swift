import AgentCore
import HTTPTypes
import Hummingbird

/// `Authorization: Bearer TOKEN` on every `/v1` route when the host has a token.
struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
  let token: String?

  func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
    guard let token else { return try await next(request, context) }
    guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
      constantTimeEqual(Array(header.utf8.dropFirst(7)), Array(token.utf8))
    else {
      let message = request.headers[.authorization] == nil
        ? "this host requires 'Authorization: Bearer <token>'" : "the bearer token is not valid"
      return HTTPGateway.json(
        .unauthorized, GatewayJSON.error(AgentRuntimeError(code: .unauthenticated, message: message)),
        headers: [.wwwAuthenticate: "Bearer"])
    }
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
