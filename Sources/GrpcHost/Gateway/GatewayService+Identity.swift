import AgentCore
import AgentWire
import GRPCCore

/// The caller of the `Gateway` call being handled, bound by the methods below from the call's
/// credentials, for the simple methods that have no metadata.
enum GatewayCaller {
  @TaskLocal static var current: Caller?
}

extension GatewayService {
  /// The calling identity; a call whose identity was not bound may do nothing on a host that
  /// requires credentials.
  var caller: Identity {
    GatewayCaller.current?.identity ?? (authenticator.isOpen ? .anonymous : Identity(name: "unknown", permissions: Permissions()))
  }

  // The generated service's request-level methods: each binds the caller's identity around the
  // simple method it calls.

  func invoke(
    request: ServerRequest<Agents_Gateway_V1_InvokeRequest>, context: ServerContext
  ) async throws -> ServerResponse<Agents_Gateway_V1_InvokeResponse> {
    try await asCaller(request, context) { try await invoke(request: $0, context: context) }
  }

  func invokeStream(
    request: ServerRequest<Agents_Gateway_V1_InvokeRequest>, context: ServerContext
  ) async throws -> StreamingServerResponse<Agents_Gateway_V1_InvokeStreamEvent> {
    try await asCaller(request, context) { try await invokeStream(request: $0, response: $1, context: context) }
  }

  func publish(
    request: ServerRequest<Agents_Gateway_V1_PublishRequest>, context: ServerContext
  ) async throws -> ServerResponse<Agents_Gateway_V1_PublishResponse> {
    try await asCaller(request, context) { try await publish(request: $0, context: context) }
  }

  func subscribe(
    request: ServerRequest<Agents_Gateway_V1_SubscribeRequest>, context: ServerContext
  ) async throws -> StreamingServerResponse<Agents_Gateway_V1_TopicEvent> {
    try await asCaller(request, context) { try await subscribe(request: $0, response: $1, context: context) }
  }

  /// A unary call answered by `body` as the request's identity.
  private func asCaller<Input, Output>(
    _ request: ServerRequest<Input>, _ context: ServerContext, _ body: (Input) async throws -> Output
  ) async throws -> ServerResponse<Output> {
    let caller = try await authenticator.caller(request.metadata, context)
    return try await GatewayCaller.$current.withValue(caller) {
      try await ForwardedTrace.$headers.withValue(Self.trace(request.metadata)) { ServerResponse(message: try await body(request.message)) }
    }
  }

  /// A streamed answer written by `body` as the request's identity.
  private func asCaller<Input: Sendable, Output>(
    _ request: ServerRequest<Input>, _ context: ServerContext,
    _ body: @escaping @Sendable (Input, RPCWriter<Output>) async throws -> Void
  ) async throws -> StreamingServerResponse<Output> {
    let caller = try await authenticator.caller(request.metadata, context)
    let trace = Self.trace(request.metadata)
    return StreamingServerResponse { writer in
      try await GatewayCaller.$current.withValue(caller) {
        try await ForwardedTrace.$headers.withValue(trace) { try await body(request.message, writer) }
      }
      return [:]
    }
  }

  /// The W3C trace context in a call's metadata.
  private static func trace(_ metadata: Metadata) -> [String: String] {
    ForwardedTrace.headers { metadata[stringValues: $0].first(where: { _ in true }) }
  }
}
