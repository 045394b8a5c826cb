import AgentCore
import AgentWire
import GRPCCore

/// The identity of the `Gateway` call being handled, bound by the methods below from the call's
/// bearer token, for the simple methods that have no metadata.
enum GatewayCaller {
  @TaskLocal static var identity: Identity?
}

extension GatewayService {
  /// The calling identity; a call whose identity was not bound may do nothing on a host that
  /// requires credentials.
  var caller: Identity {
    GatewayCaller.identity ?? (authenticator.isOpen ? .anonymous : Identity(name: "unknown", permissions: Permissions()))
  }

  // The generated service's request-level methods: each binds the caller's identity around the
  // simple method it calls.

  func invoke(
    request: ServerRequest<Agents_Gateway_V1_InvokeRequest>, context: ServerContext
  ) async throws -> ServerResponse<Agents_Gateway_V1_InvokeResponse> {
    try await asCaller(request) { try await invoke(request: $0, context: context) }
  }

  func invokeStream(
    request: ServerRequest<Agents_Gateway_V1_InvokeRequest>, context: ServerContext
  ) async throws -> StreamingServerResponse<Agents_Gateway_V1_InvokeStreamEvent> {
    try asCaller(request) { try await invokeStream(request: $0, response: $1, context: context) }
  }

  func publish(
    request: ServerRequest<Agents_Gateway_V1_PublishRequest>, context: ServerContext
  ) async throws -> ServerResponse<Agents_Gateway_V1_PublishResponse> {
    try await asCaller(request) { try await publish(request: $0, context: context) }
  }

  func subscribe(
    request: ServerRequest<Agents_Gateway_V1_SubscribeRequest>, context: ServerContext
  ) async throws -> StreamingServerResponse<Agents_Gateway_V1_TopicEvent> {
    try asCaller(request) { try await subscribe(request: $0, response: $1, context: context) }
  }

  /// A unary call answered by `body` as the request's identity.
  private func asCaller<Input, Output>(
    _ request: ServerRequest<Input>, _ body: (Input) async throws -> Output
  ) async throws -> ServerResponse<Output> {
    let identity = try authenticator.identity(request.metadata)
    return try await GatewayCaller.$identity.withValue(identity) { ServerResponse(message: try await body(request.message)) }
  }

  /// A streamed answer written by `body` as the request's identity.
  private func asCaller<Input: Sendable, Output>(
    _ request: ServerRequest<Input>, _ body: @escaping @Sendable (Input, RPCWriter<Output>) async throws -> Void
  ) throws -> StreamingServerResponse<Output> {
    let identity = try authenticator.identity(request.metadata)
    return StreamingServerResponse { writer in
      try await GatewayCaller.$identity.withValue(identity) { try await body(request.message, writer) }
      return [:]
    }
  }
}
