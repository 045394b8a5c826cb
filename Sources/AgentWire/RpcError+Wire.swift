package import AgentCore

/// How an `RpcResponse` carries the kind of failure next to its `error` text.
///
/// Our host and workers put ``metadataKey`` in the response's metadata; AutoGen's peers ignore it
/// and see only the text. A response with an error but no code is a handler failure.
package enum RpcErrorCode {
  /// The `RpcResponse.metadata` key.
  package static let metadataKey = "agerrorcode"

  /// The wire name of `code`.
  package static func wireName(_ code: AgentRuntimeError.Code) -> String {
    switch code {
    case .unknownAgentType: return "unknown-agent-type"
    case .deadlineExceeded: return "deadline-exceeded"
    case .unavailable: return "unavailable"
    case .unhandledMessage: return "unhandled-message"
    case .serializationFailed: return "serialization-failed"
    case .invalidArgument: return "invalid-argument"
    case .cancelled: return "cancelled"
    case .resourceExhausted: return "resource-exhausted"
    case .stateConflict: return "state-conflict"
    case .stateStoreFailed: return "state-store-failed"
    case .permissionDenied: return "permission-denied"
    default: return "handler-failed"
    }
  }

  /// The code for a wire name; unknown names are handler failures.
  package static func code(wireName: String?) -> AgentRuntimeError.Code {
    switch wireName {
    case "unknown-agent-type": return .unknownAgentType
    case "deadline-exceeded": return .deadlineExceeded
    case "unavailable": return .unavailable
    case "unhandled-message": return .unhandledMessage
    case "serialization-failed": return .serializationFailed
    case "invalid-argument": return .invalidArgument
    case "cancelled": return .cancelled
    case "resource-exhausted": return .resourceExhausted
    case "state-conflict": return .stateConflict
    case "state-store-failed": return .stateStoreFailed
    case "permission-denied": return .permissionDenied
    default: return .handlerFailed
    }
  }
}

extension Agents_RpcResponse {
  /// An error response carrying `error.message` and its code.
  package init(requestId: String, error: AgentRuntimeError) {
    self.init()
    self.requestID = requestId
    self.error = error.message
    self.metadata[RpcErrorCode.metadataKey] = RpcErrorCode.wireName(error.code)
  }

  /// The error this response carries, if any.
  package var runtimeError: AgentRuntimeError? {
    guard !error.isEmpty else { return nil }
    return AgentRuntimeError(code: RpcErrorCode.code(wireName: metadata[RpcErrorCode.metadataKey]), message: error)
  }
}

/// How an `RpcRequest` carries its caller's timeout, so the callee can stop the handler when the
/// caller stops waiting. A relative duration, since hosts' clocks differ. AutoGen's peers ignore it.
package enum RpcTimeout {
  /// The `RpcRequest.metadata` key; the value is whole milliseconds.
  package static let metadataKey = "agtimeoutms"

  /// The metadata value for `timeout`.
  package static func wireValue(_ timeout: Duration) -> String {
    let (seconds, attoseconds) = timeout.components
    return String(max(0, seconds * 1000 + attoseconds / 1_000_000_000_000_000))
  }

  /// The timeout a metadata value names, if it is a valid one.
  package static func duration(_ value: String?) -> Duration? {
    guard let value, let millis = Int64(value), millis > 0 else { return nil }
    return .milliseconds(millis)
  }
}
