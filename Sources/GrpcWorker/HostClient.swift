import AgentCore
import AgentWire
import GRPCCore
import SwiftProtobuf

/// The worker's unary calls to its host over one connection (register a type, add and remove
/// subscriptions), with one mapping of the host's refusals to `AgentRuntimeError`.
struct HostClient: Sendable {
  /// This connection's client id, sent with every call.
  var clientId: String
  var rpc: any Agents_AgentRpc.ClientProtocol
  var authToken: String?
  /// Each call's deadline.
  var timeout: Duration
  /// Why the worker's link ended, if it has: that, rather than the call's own error, explains a
  /// call cut short by it (refused credentials, for one).
  var linkFailure: @Sendable () -> AgentRuntimeError?

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

  private func call(_ method: String, _ body: () async throws -> Void) async throws {
    do {
      try await body()
    } catch let error as RPCError {
      throw linkFailure() ?? Self.refusal(error, of: method)
    }
  }

  /// The host's refusal of `method` as an `AgentRuntimeError` carrying the host's text.
  static func refusal(_ error: RPCError, of method: String) -> AgentRuntimeError {
    let code: AgentRuntimeError.Code
    switch error.code {
    // AutoGen's host refuses a duplicate subscription as INVALID_ARGUMENT ("... already exists"):
    // its text is the only way to tell that from a malformed request. Ours says ALREADY_EXISTS.
    case .invalidArgument where error.message.contains("already exists"), .alreadyExists: code = .alreadyExists
    case .invalidArgument: code = .invalidArgument
    case .notFound: code = .notFound
    case .deadlineExceeded: code = .deadlineExceeded
    case .cancelled: code = .cancelled
    case .resourceExhausted: code = .resourceExhausted
    case .unauthenticated, .permissionDenied: code = .unauthenticated
    default: code = .unavailable
    }
    return AgentRuntimeError(code: code, message: "the host refused \(method): \(error.message)", cause: error)
  }
}
