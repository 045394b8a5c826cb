import AgentCore
import AgentWire
import Foundation
import GRPCCore
import SwiftProtobuf

/// The worker's unary calls to its host over one connection (register a type, add and remove
/// subscriptions, load and save agent state), with one mapping of the host's refusals to
/// `AgentRuntimeError`.
struct HostClient: Sendable {
  /// This connection's client id, sent with every call.
  var clientId: String
  var rpc: any Agents_AgentRpc.ClientProtocol
  var state: any Agents_State_V1_AgentStateStore.ClientProtocol
  var authToken: String?
  /// Each call's deadline.
  var timeout: Duration
  /// Why the worker's link ended, if it has: that, rather than the call's own error, explains a
  /// call cut short by it (refused credentials, for one).
  var linkFailure: @Sendable () -> AgentRuntimeError?

  init<Transport: ClientTransport>(
    clientId: String, client: GRPCClient<Transport>, authToken: String?, timeout: Duration,
    linkFailure: @escaping @Sendable () -> AgentRuntimeError?
  ) {
    self.clientId = clientId
    self.rpc = Agents_AgentRpc.Client(wrapping: client)
    self.state = Agents_State_V1_AgentStateStore.Client(wrapping: client)
    self.authToken = authToken
    self.timeout = timeout
    self.linkFailure = linkFailure
  }

  /// `client-id`, and `authorization: Bearer …` when there is a token.
  var metadata: Metadata {
    var metadata: Metadata = [AgentRpcMetadata.clientIdKey: .string(clientId)]
    if let authToken { metadata.addString("Bearer \(authToken)", forKey: "authorization") }
    return metadata
  }

  private var options: CallOptions {
    var options = CallOptions.defaults
    options.timeout = timeout
    return options
  }

  func registerAgent(_ type: AgentType) async throws {
    try await call("RegisterAgent") {
      _ = try await rpc.registerAgent(.with { $0.type = type.name }, metadata: metadata, options: options)
    }
  }

  func addSubscription(_ subscription: Subscription) async throws {
    try await call("AddSubscription") {
      _ = try await rpc.addSubscription(
        .with { $0.subscription = Agents_Subscription(subscription) }, metadata: metadata, options: options)
    }
  }

  func removeSubscription(id: String) async throws {
    try await call("RemoveSubscription") {
      _ = try await rpc.removeSubscription(.with { $0.id = id }, metadata: metadata, options: options)
    }
  }

  func loadState(_ id: AgentId) async throws -> StoredAgentState? {
    try await call("Load (agent state)") {
      let response = try await state.load(
        .with {
          $0.agentType = id.type.name
          $0.agentKey = id.key
        }, metadata: metadata, options: options)
      return response.found ? StoredAgentState(data: response.data, version: response.version) : nil
    }
  }

  func saveState(_ id: AgentId, data: Data, expectedVersion: Int64) async throws -> Int64 {
    try await call("Save (agent state)") {
      try await state.save(
        .with {
          $0.agentType = id.type.name
          $0.agentKey = id.key
          $0.data = data
          $0.expectedVersion = expectedVersion
        }, metadata: metadata, options: options
      ).version
    }
  }

  /// Adds a subscription again on a new connection. A host that still holds it from the old
  /// connection (it has not noticed the loss yet) gets it removed and added under this one.
  func replaySubscription(_ subscription: Subscription) async throws {
    do {
      try await addSubscription(subscription)
    } catch let error as AgentRuntimeError where error.code == .alreadyExists {
      try await removeSubscription(id: subscription.id)
      try await addSubscription(subscription)
    }
  }

  private func call<T>(_ method: String, _ body: () async throws -> T) async throws -> T {
    do {
      return try await body()
    } catch let error as RPCError {
      throw linkFailure() ?? Self.refusal(error, of: method)
    }
  }

  /// The host's refusal of `method` as an `AgentRuntimeError` carrying the host's text.
  static func refusal(_ error: RPCError, of method: String) -> AgentRuntimeError {
    let code: AgentRuntimeError.Code
    // Our host names its code in a trailer; AutoGen's says only the status.
    if let name = error.metadata[stringValues: RpcErrorCode.metadataKey].first(where: { _ in true }),
      case let named = RpcErrorCode.code(wireName: name), named != .handlerFailed
    {
      return AgentRuntimeError(code: named, message: "the host refused \(method): \(error.message)", cause: error)
    }
    switch error.code {
    // AutoGen's host refuses a duplicate subscription as INVALID_ARGUMENT ("... already exists"):
    // its text is the only way to tell that from a malformed request. Ours says ALREADY_EXISTS.
    case .invalidArgument where error.message.contains("already exists"), .alreadyExists: code = .alreadyExists
    case .invalidArgument: code = .invalidArgument
    case .notFound: code = .notFound
    case .deadlineExceeded: code = .deadlineExceeded
    case .cancelled: code = .cancelled
    case .resourceExhausted: code = .resourceExhausted
    case .unauthenticated: code = .unauthenticated
    case .permissionDenied: code = .permissionDenied
    case .aborted: code = .stateConflict
    case .unimplemented where method.contains("agent state"):
      return AgentRuntimeError(
        code: .unavailable, message: "the host refused \(method): it keeps no agent state (it was started without a state store)",
        cause: error)
    default: code = .unavailable
    }
    return AgentRuntimeError(code: code, message: "the host refused \(method): \(error.message)", cause: error)
  }
}
