/// An error thrown by the agent runtime, by an id or topic that fails validation, or carried back
/// from a remote handler.
///
/// Errors have a ``Code`` that says what kind of failure happened, a human-readable ``message``
/// that names the values involved, and an optional underlying ``cause``.
///
/// ```swift
/// do {
///   let answer = try await runtime.send(question, to: id, returning: Answer.self)
/// } catch let error as AgentRuntimeError where error.code == .handlerFailed {
///   print("the remote handler failed: \(error.message)")
/// }
/// ```
public struct AgentRuntimeError: Error, CustomStringConvertible, Sendable {
  /// What kind of failure this is. New codes may be added in later versions: switch with a
  /// `default` case.
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    private enum Wrapped: Hashable, Sendable {
      case invalidArgument
      case unknownAgentType
      case alreadyExists
      case notFound
      case handlerFailed
      case unhandledMessage
      case serializationFailed
      case deadlineExceeded
      case cancelled
      case unavailable
      case resourceExhausted
      case unexpectedResponse
      case unauthenticated
      case internalError
      case stateConflict
      case stateStoreFailed
      case permissionDenied
    }

    private let wrapped: Wrapped
    private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

    /// A value (an id, a topic, a subscription) does not follow its rule.
    public static let invalidArgument = Code(.invalidArgument)
    /// No agent of the recipient's type is registered anywhere the runtime can reach.
    public static let unknownAgentType = Code(.unknownAgentType)
    /// A registration or subscription that already exists.
    public static let alreadyExists = Code(.alreadyExists)
    /// A subscription or other named thing that does not exist.
    public static let notFound = Code(.notFound)
    /// The recipient's handler threw; ``AgentRuntimeError/message`` carries its text.
    public static let handlerFailed = Code(.handlerFailed)
    /// The recipient has no handler for the message's type (or none whose predicate matched).
    public static let unhandledMessage = Code(.unhandledMessage)
    /// A message could not be serialized or deserialized.
    public static let serializationFailed = Code(.serializationFailed)
    /// No response arrived before the call's deadline.
    public static let deadlineExceeded = Code(.deadlineExceeded)
    /// The caller's task was cancelled while waiting.
    public static let cancelled = Code(.cancelled)
    /// The runtime is shut down, not running, or not connected.
    public static let unavailable = Code(.unavailable)
    /// A message or a buffer is larger than the configured limit.
    public static let resourceExhausted = Code(.resourceExhausted)
    /// A response arrived but is not of the type the caller asked for.
    public static let unexpectedResponse = Code(.unexpectedResponse)
    /// The host refused the credentials (or their absence).
    public static let unauthenticated = Code(.unauthenticated)
    /// A bug or broken invariant in the runtime itself.
    public static let internalError = Code(.internalError)
    /// An agent's state was not saved: a newer version is stored (another instance of the same
    /// agent saved since this one loaded it, as after a move), and older state never overwrites it.
    public static let stateConflict = Code(.stateConflict)
    /// The state store failed to load or save an agent's state (a corrupt entry, a state that no
    /// longer decodes into the agent's type). A store that cannot be reached is
    /// ``unavailable``.
    public static let stateStoreFailed = Code(.stateStoreFailed)
    /// The caller is known but may not do this (for one, a worker using the state of an agent
    /// type it does not serve).
    public static let permissionDenied = Code(.permissionDenied)

    public var description: String { String(describing: wrapped) }
  }

  /// What kind of failure this is.
  public var code: Code
  /// What happened, naming the values involved.
  public var message: String
  /// The underlying error, if any.
  public var cause: (any Error)?

  /// Creates an error.
  public init(code: Code, message: String, cause: (any Error)? = nil) {
    self.code = code
    self.message = message
    self.cause = cause
  }

  public var description: String {
    if let cause {
      return "\(code): \(message) (cause: \(cause))"
    }
    return "\(code): \(message)"
  }
}

extension AgentRuntimeError {
  /// Wraps any error thrown by a handler: runtime errors pass through unchanged, anything else
  /// becomes ``Code/handlerFailed`` with the error's text.
  package static func wrappingHandlerError(_ error: any Error) -> AgentRuntimeError {
    if let error = error as? AgentRuntimeError { return error }
    if error is CancellationError {
      return AgentRuntimeError(code: .cancelled, message: "the handler was cancelled", cause: error)
    }
    return AgentRuntimeError(code: .handlerFailed, message: String(describing: error), cause: error)
  }
}
