import AgentCore
import HTTPTypes
import Hummingbird

/// `Authorization: Bearer TOKEN` on every `/v1` route when the host requires one; the caller's
/// identity goes on in the request's context, for the routes' permission checks.
struct AuthenticationMiddleware: RouterMiddleware {
  typealias Context = GatewayRequestContext
  let authenticator: Authenticator

  func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
    guard !authenticator.isOpen else { return try await next(request, context) }
    guard let header = request.headers[.authorization] else {
      return Self.unauthorized("this host requires 'Authorization: Bearer <token>'")
    }
    guard let identity = try? authenticator.identity(authorization: header) else {
      return Self.unauthorized("the bearer token is not valid")
    }
    var context = context
    context.identity = identity
    return try await next(request, context)
  }

  private static func unauthorized(_ message: String) -> Response {
    HTTPGateway.json(
      .unauthorized, GatewayJSON.error(AgentRuntimeError(code: .unauthenticated, message: message)),
      headers: [.wwwAuthenticate: "Bearer"])
  }
}

/// Compares without an early exit, so timing does not reveal how much of a token matched.
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
  guard a.count == b.count else { return false }
  var difference: UInt8 = 0
  for (x, y) in zip(a, b) { difference |= x ^ y }
  return difference == 0
}
