import AgentCore
import AgentWire
import GRPCCore
import Tracing

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
    try await asCaller(request, context, traced: "Invoke") { try await invoke(request: $0, context: context) }
  }

  func invokeStream(
    request: ServerRequest<Agents_Gateway_V1_InvokeRequest>, context: ServerContext
  ) async throws -> StreamingServerResponse<Agents_Gateway_V1_InvokeStreamEvent> {
    try await asCaller(request, context, traced: "InvokeStream") { try await invokeStream(request: $0, response: $1, context: context) }
  }

  func publish(
    request: ServerRequest<Agents_Gateway_V1_PublishRequest>, context: ServerContext
  ) async throws -> ServerResponse<Agents_Gateway_V1_PublishResponse> {
    try await asCaller(request, context, traced: "Publish") { try await publish(request: $0, context: context) }
  }

  func subscribe(
    request: ServerRequest<Agents_Gateway_V1_SubscribeRequest>, context: ServerContext
  ) async throws -> StreamingServerResponse<Agents_Gateway_V1_TopicEvent> {
    try await asCaller(request, context) { try await subscribe(request: $0, response: $1, context: context) }
  }

  /// A unary call answered by `body` as the request's identity; in a server span named for the
  /// method `traced` when the host traces.
  private func asCaller<Input, Output>(
    _ request: ServerRequest<Input>, _ context: ServerContext, traced method: String? = nil, _ body: (Input) async throws -> Output
  ) async throws -> ServerResponse<Output> {
    let caller = try await authenticator.caller(request.metadata, context)
    let trace = Self.trace(request.metadata)
    return try await GatewayCaller.$current.withValue(caller) {
      try await ForwardedTrace.$headers.withValue(trace) {
        try await inSpan(method, request.metadata) { ServerResponse(message: try await body(request.message)) }
      }
    }
  }

  /// A streamed answer written by `body` as the request's identity; in a server span named for
  /// the method `traced` when the host traces.
  private func asCaller<Input: Sendable, Output>(
    _ request: ServerRequest<Input>, _ context: ServerContext, traced method: String? = nil,
    _ body: @escaping @Sendable (Input, RPCWriter<Output>) async throws -> Void
  ) async throws -> StreamingServerResponse<Output> {
    let caller = try await authenticator.caller(request.metadata, context)
    let trace = Self.trace(request.metadata)
    return StreamingServerResponse { writer in
      try await GatewayCaller.$current.withValue(caller) {
        try await ForwardedTrace.$headers.withValue(trace) {
          try await inSpan(method, request.metadata) { try await body(request.message, writer) }
        }
      }
      return [:]
    }
  }

  /// Runs `body` in a server span `agents.gateway.v1.Gateway/METHOD` that continues the caller's
  /// trace context in `metadata`, when the host traces and `method` is given.
  private func inSpan<T>(_ method: String?, _ metadata: Metadata, _ body: () async throws -> T) async throws -> T {
    let tracing = gateway.router.tracing
    guard let method, let tracer = tracing.tracer else { return try await body() }
    var carrier: [String: String] = [:]
    for (key, value) in metadata { if case .string(let text) = value { carrier[key] = text } }
    let span = tracer.startSpan(
      "agents.gateway.v1.Gateway/\(method)", context: tracing.extract(from: carrier) ?? .topLevel, ofKind: .server)
    defer { span.end() }
    span.attributes["rpc.system"] = "grpc"
    span.attributes["rpc.service"] = "agents.gateway.v1.Gateway"
    span.attributes["rpc.method"] = method
    do {
      return try await ServiceContext.withValue(span.context) { try await body() }
    } catch {
      if let error = error as? RPCError { span.attributes["rpc.grpc.status_code"] = error.code.rawValue }
      MessageTracing.failed(span, error)
      throw error
    }
  }

  /// The W3C trace context in a call's metadata.
  private static func trace(_ metadata: Metadata) -> [String: String] {
    ForwardedTrace.headers { metadata[stringValues: $0].first(where: { _ in true }) }
  }
}
