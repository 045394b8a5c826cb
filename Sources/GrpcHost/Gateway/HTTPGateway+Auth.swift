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
