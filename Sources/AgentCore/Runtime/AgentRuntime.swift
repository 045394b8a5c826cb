/// Options for one direct message (RPC).
public struct SendOptions: Sendable {
  /// How long to wait for the response; `nil` uses the runtime's default.
  public var timeout: Duration?
  /// The sending agent; `nil` uses the agent whose handler is running, if any.
  public var sender: AgentId?
  /// The message id; `nil` generates one.
  public var messageId: String?

  /// Creates options.
  public init(timeout: Duration? = nil, sender: AgentId? = nil, messageId: String? = nil) {
    self.timeout = timeout
    self.sender = sender
    self.messageId = messageId
  }
}

/// Options for one published message.
public struct PublishOptions: Sendable {
  /// The publishing agent, which does not receive its own message; `nil` uses the agent whose
  /// handler is running, if any.
  public var sender: AgentId?
  /// The message id; `nil` generates one.
  public var messageId: String?

  /// Creates options.
  public init(sender: AgentId? = nil, messageId: String? = nil) {
    self.sender = sender
    self.messageId = messageId
  }
}

/// The API agents and programs use to talk to each other, the same in-process and distributed.
///
/// ``InProcessRuntime`` implements it in one process; the gRPC worker runtime implements it across
/// processes through a host. Agent code written against this protocol runs unchanged on either.
///
/// ```swift
/// try await runtime.register(AgentType("assistant"), subscriptions: [.defaultTopic]) { id, runtime in
///   Assistant(id: id, runtime: runtime)
/// }
/// let reply = try await runtime.send(ChatMessage(text: "hi"), to: assistantId, returning: ChatReply.self)
/// try await runtime.publish(ChatMessage(text: "hello all"), to: .default())
/// ```
public protocol AgentRuntime: Sendable {
  /// Registers an agent type. Agents are created lazily, one per key, by `factory`.
  ///
  /// For a ``RoutedAgent`` the runtime also adds serializers for its handlers' message and result
  /// types (protobuf messages and `Codable` types; see ``MessageRouter/serializers``) and the
  /// subscriptions the type declares (``RoutedAgent/subscriptions``).
  ///
  /// - Parameters:
  ///   - type: the agent type.
  ///   - subscriptions: class-level subscriptions, each added for `type`.
  ///   - factory: creates the agent for an id.
  /// - Throws: ``AgentRuntimeError/Code/alreadyExists`` when `type` is already registered here.
  func register<A: Agent>(
    _ type: AgentType,
    subscriptions: [TopicFilter],
    factory: @escaping @Sendable (AgentId, any AgentRuntime) async throws -> A
  ) async throws

  /// Adds a subscription.
  ///
  /// - Throws: ``AgentRuntimeError/Code/alreadyExists`` for a duplicate.
  func addSubscription(_ subscription: Subscription) async throws

  /// Removes the subscription with `id`.
  ///
  /// - Throws: ``AgentRuntimeError/Code/notFound`` when there is none.
  func removeSubscription(id: String) async throws

  /// Sends a direct message and waits for the response.
  ///
  /// - Returns: the handler's response, `nil` when it returned nothing.
  /// - Throws: ``AgentRuntimeError`` with ``AgentRuntimeError/Code/unknownAgentType`` when no agent
  ///   of the recipient's type is registered, ``AgentRuntimeError/Code/handlerFailed`` carrying
  ///   the handler's error text, ``AgentRuntimeError/Code/deadlineExceeded``, or
  ///   ``AgentRuntimeError/Code/cancelled`` when the calling task is cancelled.
  func send(_ message: any Sendable, to recipient: AgentId, options: SendOptions) async throws
    -> (any Sendable)?

  /// Sends a direct message whose handler may stream partial results before its answer.
  ///
  /// `onChunk` is called with each chunk the handler emits through ``MessageContext/stream(_:)``,
  /// in order, and never after this returns. A handler that does not stream works as with
  /// ``send(_:to:options:)``. The default implementation does not stream (chunks are dropped);
  /// ``InProcessRuntime`` and the gRPC worker runtime stream.
  ///
  /// - Returns: the handler's response, `nil` when it returned nothing.
  /// - Throws: what ``send(_:to:options:)`` throws.
  func send(
    _ message: any Sendable,
    to recipient: AgentId,
    options: SendOptions,
    onChunk: @escaping @Sendable (any Sendable) -> Void
  ) async throws -> (any Sendable)?

  /// Publishes a message to every agent subscribed to `topic`, except the publisher itself.
  ///
  /// Returns once the message is handed on; it does not wait for handlers.
  func publish(_ message: any Sendable, to topic: TopicId, options: PublishOptions) async throws

  /// The metadata of the agent with `id`, creating the agent if needed.
  func agentMetadata(_ id: AgentId) async throws -> AgentMetadata

  /// The saved state of the agent with `id`, creating the agent if needed.
  func saveAgentState(_ id: AgentId) async throws -> AgentState

  /// Loads state into the agent with `id`, creating the agent if needed.
  func loadAgentState(_ id: AgentId, state: AgentState) async throws
}

extension AgentRuntime {
  /// Sends without streaming: chunks the handler emits are dropped.
  public func send(
    _ message: any Sendable,
    to recipient: AgentId,
    options: SendOptions,
    onChunk: @escaping @Sendable (any Sendable) -> Void
  ) async throws -> (any Sendable)? {
    try await send(message, to: recipient, options: options)
  }

  /// Registers an agent type with no class-level subscriptions.
  ///
  /// (A different signature from the requirement on purpose: a default with the requirement's own
  /// signature would satisfy it and call itself forever in a conformer that forgot it.)
  public func register<A: Agent>(
    _ type: AgentType,
    factory: @escaping @Sendable (AgentId, any AgentRuntime) async throws -> A
  ) async throws {
    try await register(type, subscriptions: [], factory: factory)
  }

  /// Sends a direct message and returns the response, which must be of type `R`.
  ///
  /// - Throws: what ``send(_:to:options:)`` throws, and
  ///   ``AgentRuntimeError/Code/unexpectedResponse`` when the response is not an `R`.
  public func send<R: Sendable>(
    _ message: any Sendable,
    to recipient: AgentId,
    returning: R.Type = R.self,
    timeout: Duration? = nil,
    sender: AgentId? = nil
  ) async throws -> R {
    let response = try await send(
      message,
      to: recipient,
      options: SendOptions(timeout: timeout, sender: sender)
    )
    return try Self.typed(response, from: recipient, as: R.self)
  }

  /// Sends a direct message; the response, if any, is discarded.
  public func send(
    _ message: any Sendable,
    to recipient: AgentId,
    timeout: Duration? = nil
  ) async throws {
    _ = try await send(message, to: recipient, options: SendOptions(timeout: timeout))
  }

  /// Publishes a message to `topic`.
  public func publish(_ message: any Sendable, to topic: TopicId) async throws {
    try await publish(message, to: topic, options: PublishOptions())
  }
}
