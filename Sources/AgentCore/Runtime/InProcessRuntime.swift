import Foundation
public import Logging
public import ServiceLifecycle
import Synchronization
import Tracing

/// Runs agents in this process: the same ``AgentRuntime`` API as the distributed worker, with
/// messages passed as values (nothing is serialized unless
/// ``Configuration/roundTripsMessages`` asks for it, as tests should).
///
/// Start it with ``run()`` (it is a `Service`, so it can join a `ServiceGroup`) or scope it with
/// ``withInProcessRuntime(configuration:serializers:logger:_:)``:
///
/// ```swift
/// try await withInProcessRuntime { runtime in
///   try await runtime.register(AgentType("echo")) { id, _ in Echo(id: id) }
///   let reply = try await runtime.send(Ping(), to: try AgentId(type: "echo", key: "1"), returning: Pong.self)
/// }
/// ```
///
/// Semantics:
/// - A publisher does not receive its own publish; each subscribed agent instance receives a
///   message once even when several of its subscriptions match.
/// - A send to a type nobody registered throws ``AgentRuntimeError/Code/unknownAgentType`` at once.
/// - Messages to one agent start in arrival order and run one at a time on the agent's actor,
///   interleaving only where a handler suspends (see ``Agent``). Self-sends and call cycles do not
///   deadlock.
/// - Every send has a deadline (``Configuration/defaultRPCTimeout`` unless given).
/// - Graceful shutdown stops new messages, lets queued and running handlers finish (for at most
///   ``Configuration/shutdownGracePeriod``, then cancels them), then returns.
public final class InProcessRuntime: AgentRuntime, Service {
  /// Settings for an in-process runtime.
  public struct Configuration: Sendable {
    /// How long a send waits for its response when the call gives no timeout. Default 60 s.
    public var defaultRPCTimeout: Duration
    /// How long handlers still running at shutdown may take before they are cancelled. Default 10 s.
    public var shutdownGracePeriod: Duration
    /// Whether every message, response and streamed chunk goes through the runtime's serializers
    /// (serialized, then deserialized) on its way, as it would between processes. A message type
    /// with no serializer, or one that does not survive encoding, then fails here as it would on
    /// the wire, instead of only in production. Default false; the testing product turns it on.
    public var roundTripsMessages: Bool
    /// Where ``StatefulAgent``s' state is kept: loaded when an instance is activated, saved after
    /// each handler that completes. `nil` (the default): it lives as long as the instance.
    public var stateStore: (any AgentStateStore)?
    /// The largest state a ``StatefulAgent`` may save, in bytes (as encoded): a handler that leaves
    /// a larger one fails with ``AgentRuntimeError/Code/resourceExhausted`` and nothing is saved.
    /// Default 1 MiB.
    public var maxStateSize: Int = 1024 * 1024
    /// How long one load or save of a state may take; past it the handler fails with
    /// ``AgentRuntimeError/Code/unavailable`` (the store may be down). Default 10 s.
    public var stateStoreTimeout: Duration = .seconds(10)

    /// Creates a configuration.
    public init(
      defaultRPCTimeout: Duration = .seconds(60),
      shutdownGracePeriod: Duration = .seconds(10),
      roundTripsMessages: Bool = false
    ) {
      self.defaultRPCTimeout = defaultRPCTimeout
      self.shutdownGracePeriod = shutdownGracePeriod
      self.roundTripsMessages = roundTripsMessages
    }
  }

  /// This runtime's settings.
  public let configuration: Configuration
  private let logger: Logger
  /// How messages are traced: with the tracer installed when the runtime was created.
  private let tracing = MessageTracing.current
  private let agents: LocalAgents
  private let subscriptionSet = Mutex(SubscriptionSet())
  private let registry: Mutex<SerializationRegistry>

  /// Creates a runtime. It delivers messages once ``run()`` is running.
  ///
  /// `serializers` are used only with ``Configuration/roundTripsMessages``, together with the
  /// serializers derived from each registered ``RoutedAgent``'s handlers.
  public init(
    configuration: Configuration = Configuration(),
    serializers: SerializationRegistry = SerializationRegistry(),
    logger: Logger = Logger(label: "agents.in-process-runtime")
  ) {
    self.configuration = configuration
    self.logger = logger
    self.registry = Mutex(serializers)
    self.agents = LocalAgents(
      logger: logger, gracePeriod: configuration.shutdownGracePeriod,
      state: configuration.stateStore.map {
        StateSettings(store: $0, maxStateSize: configuration.maxStateSize, timeout: configuration.stateStoreTimeout)
      },
      tracing: tracing)
  }

  /// The serializers: those given at creation, plus those derived from registered agents.
  public var serializers: SerializationRegistry { registry.withLock { $0 } }

  /// `message` as another process would receive it, when ``Configuration/roundTripsMessages``
  /// is on; `message` itself otherwise.
  private func crossing(_ message: any Sendable) throws(AgentRuntimeError) -> any Sendable {
    guard configuration.roundTripsMessages else { return message }
    return try registry.withLock { registry throws(AgentRuntimeError) in try registry.roundTrip(message) }
  }

  // MARK: Lifecycle

  /// Delivers messages until graceful shutdown (or ``shutdown()``), then lets queued and running
  /// handlers finish and returns. A handler whose caller gave up (deadline or cancellation) is
  /// cancelled; cancelling the task running `run()` cancels every handler.
  ///
  /// - Throws: ``AgentRuntimeError/Code/unavailable`` when called twice.
  public func run() async throws {
    try await withGracefulShutdownHandler {
      try await agents.run()
    } onGracefulShutdown: {
      self.shutdown()
    }
  }

  /// Stops accepting messages and lets ``run()`` return once queued and running handlers are done.
  /// Idempotent.
  public func shutdown() {
    agents.shutdown()
  }

  // MARK: Registration and subscriptions

  public func register<A: Agent>(
    _ type: AgentType,
    subscriptions: [TopicFilter],
    factory: @escaping @Sendable (AgentId, any AgentRuntime) async throws -> A
  ) async throws {
    let classSubscriptions = try agents.register(type, subscriptions: subscriptions, factory: factory, serializers: registry)
    do {
      // Add every subscription or none, so a refusal leaves nothing half-registered.
      try subscriptionSet.withLock { set throws(AgentRuntimeError) in
        var updated = set
        for subscription in classSubscriptions { try updated.add(subscription) }
        set = updated
      }
    } catch {
      agents.unregister(type)
      throw error
    }
  }

  public func addSubscription(_ subscription: Subscription) async throws {
    try subscriptionSet.withLock { set throws(AgentRuntimeError) in try set.add(subscription) }
  }

  public func removeSubscription(id: String) async throws {
    try subscriptionSet.withLock { set throws(AgentRuntimeError) in _ = try set.remove(id: id) }
  }

  /// The current subscriptions.
  public var subscriptions: [Subscription] {
    subscriptionSet.withLock { $0.all }
  }

  // MARK: Messaging

  public func send(
    _ message: any Sendable,
    to recipient: AgentId,
    options: SendOptions
  ) async throws -> (any Sendable)? {
    try await call(message, to: recipient, options: options, chunks: nil)
  }

  public func send(
    _ message: any Sendable,
    to recipient: AgentId,
    options: SendOptions,
    onChunk: @escaping @Sendable (any Sendable) -> Void
  ) async throws -> (any Sendable)? {
    let roundTrip = configuration.roundTripsMessages ? serializers : nil
    // A chunk that does not cross the wire fails the handler's `stream(_:)`, as on a worker.
    let sink = ChunkSink { chunk, _ in onChunk(try roundTrip?.roundTrip(chunk) ?? chunk) }
    defer { sink.close() }
    return try await call(message, to: recipient, options: options, chunks: sink)
  }

  private func call(
    _ message: any Sendable,
    to recipient: AgentId,
    options: SendOptions,
    chunks: ChunkSink?
  ) async throws -> (any Sendable)? {
    var context = MessageContext(
      recipient: recipient,
      sender: options.sender ?? MessageContext.current?.recipient,
      topic: nil,
      isRPC: true,
      messageId: options.messageId ?? UUID().uuidString
    )
    context.chunkSink = chunks
    let envelopeContext = context
    return try await tracing.send(to: recipient, message: message) { _ in
      let reply = OneShot<(any Sendable)?>()
      try agents.deliver(
        LocalAgents.Envelope(message: try crossing(message), context: envelopeContext, reply: reply, trace: ServiceContext.current),
        runtime: self)
      let response = try await reply.await(
        timeout: options.timeout ?? configuration.defaultRPCTimeout, from: recipient)
      // The handler has returned: nothing it streams from here on reaches the caller.
      chunks?.close()
      return try response.map { response throws(AgentRuntimeError) in try crossing(response) }
    }
  }

  public func publish(
    _ message: any Sendable,
    to topic: TopicId,
    options: PublishOptions
  ) async throws {
    guard !agents.isShutDown else { throw LocalAgents.shutDownError }
    let sender = options.sender ?? MessageContext.current?.recipient
    let messageId = options.messageId ?? UUID().uuidString
    let recipients = subscriptionSet.withLock { $0.recipients(for: topic) }
    let original = message
    let message = try crossing(message)
    try await tracing.publish(to: topic, message: original, messageId: messageId) { _ in
      deliver(message, to: recipients, topic: topic, sender: sender, messageId: messageId)
    }
  }

  private func deliver(_ message: any Sendable, to recipients: [AgentId], topic: TopicId, sender: AgentId?, messageId: String) {
    for recipient in recipients where recipient != sender {
      let context = MessageContext(
        recipient: recipient,
        sender: sender,
        topic: topic,
        isRPC: false,
        messageId: messageId
      )
      do {
        try agents.deliver(
          LocalAgents.Envelope(message: message, context: context, reply: nil, trace: ServiceContext.current), runtime: self)
      } catch {
        logger.warning(
          "published message not delivered",
          metadata: ["topic": "\(topic)", "recipient": "\(recipient)", "error": "\(error)"]
        )
      }
    }
  }

  public func agentMetadata(_ id: AgentId) async throws -> AgentMetadata {
    try await agent(for: id).metadata
  }

  public func saveAgentState(_ id: AgentId) async throws -> AgentState {
    try await agent(for: id).saveState()
  }

  public func loadAgentState(_ id: AgentId, state: AgentState) async throws {
    try await agent(for: id).loadState(state)
  }

  private func agent(for id: AgentId) async throws -> any Agent {
    try await agents.agent(for: id, runtime: self, timeout: configuration.defaultRPCTimeout)
  }

  /// The agent instance with `id` in this runtime, created if needed: for tests that look at an
  /// agent's state directly.
  ///
  /// - Throws: ``AgentRuntimeError/Code/unknownAgentType`` when the type is not registered, and
  ///   ``AgentRuntimeError/Code/invalidArgument`` when the instance is not an `A`.
  public func agent<A: Agent>(_ id: AgentId, as: A.Type = A.self) async throws -> A {
    try LocalAgents.typed(try await agent(for: id), id: id, as: A.self)
  }
}

/// Runs an ``InProcessRuntime`` for the duration of `body`, then shuts it down gracefully.
///
/// - Returns: what `body` returns.
public func withInProcessRuntime<Result: Sendable>(
  configuration: InProcessRuntime.Configuration = InProcessRuntime.Configuration(),
  serializers: SerializationRegistry = SerializationRegistry(),
  logger: Logger = Logger(label: "agents.in-process-runtime"),
  _ body: (InProcessRuntime) async throws -> Result
) async throws -> Result {
  try await withRunningService(
    InProcessRuntime(configuration: configuration, serializers: serializers, logger: logger),
    run: { try await $0.run() },
    shutdown: { $0.shutdown() },
    body
  )
}

extension Duration {
  /// The duration in seconds, as a floating-point number.
  package var seconds: Double {
    let (seconds, attoseconds) = components
    return Double(seconds) + Double(attoseconds) / 1e18
  }

  /// "1.5 s"-style text for error messages.
  package var secondsDescription: String {
    let (seconds, attoseconds) = components
    let millis = (Double(seconds) * 1000 + Double(attoseconds) / 1e15).rounded()
    var text = String(Int64(millis) / 1000)
    let fraction = Int64(millis) % 1000
    if fraction != 0 {
      var digits = String(fraction)
      digits = String(repeating: "0", count: 3 - digits.count) + digits
      while digits.hasSuffix("0") { digits.removeLast() }
      text += "." + digits
    }
    return "\(text) s"
  }
}
