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

  // The generated service's request-level methods, binding the caller's identity around the
  // simple methods they call.

  func invoke(
    request: ServerRequest<Agents_Gateway_V1_InvokeRequest>, context: ServerContext
  ) async throws -> ServerResponse<Agents_Gateway_V1_InvokeResponse> {
    let identity = try authenticator.identity(request.metadata)
    return try await GatewayCaller.$identity.withValue(identity) {
      ServerResponse(message: try await invoke(request: request.message, context: context))
    }
  }

  func invokeStream(
    request: ServerRequest<Agents_Gateway_V1_InvokeRequest>, context: ServerContext
  ) async throws -> StreamingServerResponse<Agents_Gateway_V1_InvokeStreamEvent> {
    let identity = try authenticator.identity(request.metadata)
    return StreamingServerResponse { writer in
      try await GatewayCaller.$identity.withValue(identity) {
        try await invokeStream(request: request.message, response: writer, context: context)
      }
      return [:]
    }
  }

  func publish(
    request: ServerRequest<Agents_Gateway_V1_PublishRequest>, context: ServerContext
  ) async throws -> ServerResponse<Agents_Gateway_V1_PublishResponse> {
    let identity = try authenticator.identity(request.metadata)
    return try await GatewayCaller.$identity.withValue(identity) {
      ServerResponse(message: try await publish(request: request.message, context: context))
    }
  }

  func subscribe(
    request: ServerRequest<Agents_Gateway_V1_SubscribeRequest>, context: ServerContext
  ) async throws -> StreamingServerResponse<Agents_Gateway_V1_TopicEvent> {
    let identity = try authenticator.identity(request.metadata)
    return StreamingServerResponse { writer in
      try await GatewayCaller.$identity.withValue(identity) {
        try await subscribe(request: request.message, response: writer, context: context)
      }
      return [:]
    }
  }
}
