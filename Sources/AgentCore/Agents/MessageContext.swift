package import Tracing

/// What a handler knows about the message it is handling.
public struct MessageContext: Sendable {
  /// The agent handling the message.
  public var recipient: AgentId
  /// The agent that sent or published the message; `nil` when it came from outside any agent.
  public var sender: AgentId?
  /// The topic the message was published to; `nil` for a direct message (RPC).
  public var topic: TopicId?
  /// Whether this is a direct message whose caller waits for a response.
  public var isRPC: Bool
  /// The message id: the CloudEvent id for a publish, the request id for an RPC.
  public var messageId: String
  /// Where ``stream(_:)`` sends chunks; set by the runtime for a streamed call.
  package var chunkSink: ChunkSink?
  /// The handler's span, when the runtime traces (see ``MessageTracing``): chunks are its events.
  package var span: (any Span)?

  /// Creates a context.
  public init(
    recipient: AgentId,
    sender: AgentId?,
    topic: TopicId?,
    isRPC: Bool,
    messageId: String
  ) {
    self.recipient = recipient
    self.sender = sender
    self.topic = topic
    self.isRPC = isRPC
    self.messageId = messageId
  }

  /// Whether the handler should stop: its caller gave up (deadline or cancellation) or the runtime
  /// is shutting down. Handlers run in a task that is cancelled in those cases; long handlers
  /// should check this or call `try Task.checkCancellation()`.
  public var isCancelled: Bool { Task.isCancelled }

  /// The context of the handler running in the current task, if any.
  ///
  /// Runtimes use it to fill in the sender of messages sent from inside a handler, and
  /// ``TopicId/default(source:)`` uses it for the default topic's source.
  @TaskLocal public static var current: MessageContext?
}
