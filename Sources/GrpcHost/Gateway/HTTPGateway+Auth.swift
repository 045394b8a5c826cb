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
    guard header.hasPrefix("Bearer ") else {
      return Self.unauthorized("this host requires 'Authorization: Bearer <token>'")
    }
    let caller: Caller
    do {
      caller = try await authenticator.caller(.bearer(String(header.dropFirst(7))))
    } catch {
      return Self.unauthorized(error.message)
    }
    var context = context
    context.caller = caller
    return try await next(request, context)
  }

  private static func unauthorized(_ message: String) -> Response {
    HTTPGateway.json(
      .unauthorized, GatewayJSON.error(AgentRuntimeError(code: .unauthenticated, message: message)),
      headers: [.wwwAuthenticate: "Bearer"])
  }
}

/// Binds the caller's `traceparent` and `tracestate` headers (see ``ForwardedTrace``) for the
/// request's route.
struct ForwardedTraceMiddleware: RouterMiddleware {
  typealias Context = GatewayRequestContext

  func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
    let headers = ForwardedTrace.headers { request.headers[HTTPField.Name($0)!] }
    guard !headers.isEmpty else { return try await next(request, context) }
    return try await ForwardedTrace.$headers.withValue(headers) { try await next(request, context) }
  }
}
