import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Runs agents in this process: the same ``AgentRuntime`` API as the distributed worker, with
/// messages passed as values (nothing is serialized).
///
/// Start it with ``run()`` (it is a `Service`, so it can join a `ServiceGroup`) or scope it with
/// ``withInProcessRuntime(configuration:logger:_:)``:
///
/// ```swift
/// try await withInProcessRuntime { runtime in
///   try await runtime.register(try AgentType("echo")) { id, _ in Echo(id: id) }
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
/// - Graceful shutdown stops new messages, lets queued and running handlers finish, then returns.
public final class InProcessRuntime: AgentRuntime, Service {
  /// Settings for an in-process runtime.
  public struct Configuration: Sendable {
    /// How long a send waits for its response when the call gives no timeout. Default 60 s.
    public var defaultRPCTimeout: Duration

    /// Creates a configuration.
    public init(defaultRPCTimeout: Duration = .seconds(60)) {
      self.defaultRPCTimeout = defaultRPCTimeout
    }
  }

  private struct Envelope: Sendable {
    var message: any Sendable
    var context: MessageContext
    /// Set for an RPC: where the response goes.
    var reply: OneShot<(any Sendable)?>?
  }

  private struct Slot: Sendable {
    var mailbox: AsyncStream<Envelope>.Continuation
    var instance: OneShot<any Agent>
  }

  private struct State {
    var factories: [AgentType: AgentFactory] = [:]
    var subscriptions = SubscriptionSet()
    var slots: [AgentId: Slot] = [:]
    var isRunning = false
    var isShutDown = false
  }

  /// This runtime's settings.
  public let configuration: Configuration
  private let logger: Logger
  private let state = Mutex(State())
  /// Work for the run loop: one entry per agent instance (its mailbox drainer).
  private let jobs: AsyncStream<@Sendable () async -> Void>
  private let jobsContinuation: AsyncStream<@Sendable () async -> Void>.Continuation

  /// Creates a runtime. It delivers messages once ``run()`` is running.
  public init(
    configuration: Configuration = Configuration(),
    logger: Logger = Logger(label: "agents.in-process-runtime")
  ) {
    self.configuration = configuration
    self.logger = logger
    (jobs, jobsContinuation) = AsyncStream.makeStream()
  }

  // MARK: Lifecycle

  /// Delivers messages until graceful shutdown (or ``shutdown()``), then lets queued and running
  /// handlers finish and returns. A handler whose caller gave up (deadline or cancellation) is
  /// cancelled; cancelling the task running `run()` cancels every handler.
  ///
  /// - Throws: ``AgentRuntimeError/Code/unavailable`` when called twice.
  public func run() async throws {
    try state.withLock { state throws(AgentRuntimeError) in
      guard !state.isRunning else {
        throw AgentRuntimeError(code: .unavailable, message: "the runtime was already started")
      }
      state.isRunning = true
    }
    await withGracefulShutdownHandler {
      await withDiscardingTaskGroup { group in
        for await job in jobs {
          group.addTask { await job() }
        }
      }
    } onGracefulShutdown: {
      self.shutdown()
    }
  }

  /// Stops accepting messages and lets ``run()`` return once queued and running handlers are done.
  /// Idempotent.
  public func shutdown() {
    let mailboxes: [AsyncStream<Envelope>.Continuation] = state.withLock { state in
      guard !state.isShutDown else { return [] }
      state.isShutDown = true
      return state.slots.values.map(\.mailbox)
    }
    for mailbox in mailboxes { mailbox.finish() }
    jobsContinuation.finish()
  }

  // MARK: Registration and subscriptions

  public func register(
    _ type: AgentType,
    subscriptions: [TopicFilter],
    factory: @escaping AgentFactory
  ) async throws {
    let classSubscriptions = try subscriptions.map { filter throws(AgentRuntimeError) in
      try Subscription(filter: filter, agentType: type)
    }
    try state.withLock { state throws(AgentRuntimeError) in
      guard state.factories[type] == nil else {
        throw AgentRuntimeError(code: .alreadyExists, message: "agent type '\(type)' is already registered")
      }
      // Check every subscription first so a refusal leaves nothing half-registered.
      var subscriptions = state.subscriptions
      for subscription in classSubscriptions { try subscriptions.add(subscription) }
      state.subscriptions = subscriptions
      state.factories[type] = factory
    }
  }

  public func addSubscription(_ subscription: Subscription) async throws {
    try state.withLock { state throws(AgentRuntimeError) in try state.subscriptions.add(subscription) }
  }

  public func removeSubscription(id: String) async throws {
    try state.withLock { state throws(AgentRuntimeError) in _ = try state.subscriptions.remove(id: id) }
  }

  /// The current subscriptions.
  public var subscriptions: [Subscription] {
    state.withLock { $0.subscriptions.all }
  }

  // MARK: Messaging

  public func send(
    _ message: any Sendable,
    to recipient: AgentId,
    options: SendOptions
  ) async throws -> (any Sendable)? {
    let context = MessageContext(
      recipient: recipient,
      sender: options.sender ?? MessageContext.current?.recipient,
      topic: nil,
      isRPC: true,
      messageId: options.messageId ?? UUID().uuidString
    )
    let reply = OneShot<(any Sendable)?>()
    try deliver(Envelope(message: message, context: context, reply: reply))
    let timeout = options.timeout ?? configuration.defaultRPCTimeout
    do {
      return try await withDeadline(
        timeout,
        timeoutError: {
          AgentRuntimeError(
            code: .deadlineExceeded,
            message: "no response from \(recipient) within \(timeout.secondsDescription)"
          )
        },
        cancelledError: {
          AgentRuntimeError(code: .cancelled, message: "the send to \(recipient) was cancelled")
        },
        { try await reply.value() }
      )
    } catch {
      // Tell the handler its caller is gone, so it is cancelled.
      reply.resolve(.failure(error))
      throw error
    }
  }

  public func publish(
    _ message: any Sendable,
    to topic: TopicId,
    options: PublishOptions
  ) async throws {
    let sender = options.sender ?? MessageContext.current?.recipient
    let messageId = options.messageId ?? UUID().uuidString
    let recipients = try state.withLock { state throws(AgentRuntimeError) in
      guard !state.isShutDown else { throw Self.shutDownError }
      return state.subscriptions.recipients(for: topic)
    }
    for recipient in recipients where recipient != sender {
      let context = MessageContext(
        recipient: recipient,
        sender: sender,
        topic: topic,
        isRPC: false,
        messageId: messageId
      )
      do {
        try deliver(Envelope(message: message, context: context, reply: nil))
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

  // MARK: Internals

  private static var shutDownError: AgentRuntimeError {
    AgentRuntimeError(code: .unavailable, message: "the runtime is shut down")
  }

  private func agent(for id: AgentId) async throws -> any Agent {
    let slot = try slot(for: id)
    let timeout = configuration.defaultRPCTimeout
    return try await withDeadline(
      timeout,
      timeoutError: {
        AgentRuntimeError(code: .deadlineExceeded, message: "agent \(id) was not created within \(timeout.secondsDescription)")
      },
      cancelledError: { AgentRuntimeError(code: .cancelled, message: "waiting for agent \(id) was cancelled") },
      { try await slot.instance.value() }
    )
  }

  private func deliver(_ envelope: Envelope) throws(AgentRuntimeError) {
    let slot = try slot(for: envelope.context.recipient)
    if case .terminated = slot.mailbox.yield(envelope) {
      throw Self.shutDownError
    }
  }

  /// The slot for `id`, creating it (and scheduling the agent's creation) on first use.
  private func slot(for id: AgentId) throws(AgentRuntimeError) -> Slot {
    let (slot, newFactory, stream) = try state.withLock {
      state throws(AgentRuntimeError) -> (Slot, AgentFactory?, AsyncStream<Envelope>?) in
      guard !state.isShutDown else { throw Self.shutDownError }
      if let slot = state.slots[id] { return (slot, nil, nil) }
      guard let factory = state.factories[id.type] else {
        throw AgentRuntimeError(
          code: .unknownAgentType,
          message: "no agent type '\(id.type)' is registered (recipient \(id))"
        )
      }
      let (stream, continuation) = AsyncStream<Envelope>.makeStream()
      let slot = Slot(mailbox: continuation, instance: OneShot())
      state.slots[id] = slot
      return (slot, factory, stream)
    }
    if let newFactory, let stream {
      let scheduled = jobsContinuation.yield { [self] in
        await self.runAgent(id: id, slot: slot, factory: newFactory, mailbox: stream)
      }
      if case .terminated = scheduled {
        // Shut down between creating the slot and scheduling it.
        slot.instance.resolve(.failure(Self.shutDownError))
        throw Self.shutDownError
      }
    }
    return slot
  }

  /// Creates the agent, then starts its messages one after another in arrival order.
  private func runAgent(
    id: AgentId,
    slot: Slot,
    factory: AgentFactory,
    mailbox: AsyncStream<Envelope>
  ) async {
    let agent: any Agent
    do {
      agent = try await factory(id, self)
      guard agent.id == id else {
        throw AgentRuntimeError(
          code: .internalError,
          message: "the factory for '\(id.type)' made an agent with id \(agent.id), expected \(id)"
        )
      }
      slot.instance.resolve(.success(agent))
    } catch {
      let failure = AgentRuntimeError(
        code: .internalError,
        message: "could not create agent \(id): \(error)",
        cause: error
      )
      logger.error("agent creation failed", metadata: ["agent": "\(id)", "error": "\(error)"])
      // Forget the slot so a later message tries again, then fail what is queued.
      state.withLock { state in
        if state.slots[id]?.instance === slot.instance { state.slots[id] = nil }
      }
      slot.instance.resolve(.failure(failure))
      slot.mailbox.finish()
      for await envelope in mailbox {
        envelope.reply?.resolve(.failure(failure))
      }
      return
    }

    await withDiscardingTaskGroup { group in
      for await envelope in mailbox {
        // Start the handler and wait until it is running on the agent's actor before taking the
        // next message: arrival order is start order, without serializing whole handlers.
        await withCheckedContinuation { (started: CheckedContinuation<Void, Never>) in
          group.addTask {
            await self.handle(envelope, agent: agent, onStart: { started.resume() })
          }
        }
      }
    }
  }

  private func handle(_ envelope: Envelope, agent: any Agent, onStart: @escaping @Sendable () -> Void) async {
    guard let reply = envelope.reply else {
      await run(envelope, agent: agent, onStart: onStart)
      return
    }
    // An RPC: when the caller stops waiting (it resolves the reply with its own error), cancel the
    // handler. When the handler finishes first, its result resolves the reply and this ends.
    await withTaskGroup(of: Void.self) { group in
      group.addTask { await self.run(envelope, agent: agent, onStart: onStart) }
      group.addTask { _ = try? await reply.value() }
      await group.next()
      group.cancelAll()
    }
  }

  private func run(_ envelope: Envelope, agent: any Agent, onStart: @escaping @Sendable () -> Void) async {
    do {
      let response = try await agent.receive(envelope.message, context: envelope.context, onStart: onStart)
      envelope.reply?.resolve(.success(response))
    } catch {
      let wrapped = AgentRuntimeError.wrappingHandlerError(error)
      if let reply = envelope.reply {
        reply.resolve(.failure(wrapped))
      } else if wrapped.code == .unhandledMessage {
        logger.notice("published message not handled", metadata: ["error": "\(wrapped.message)"])
      } else {
        logger.warning(
          "handler failed on a published message",
          metadata: ["agent": "\(envelope.context.recipient)", "error": "\(wrapped.message)"]
        )
      }
    }
  }
}

/// Runs an ``InProcessRuntime`` for the duration of `body`, then shuts it down gracefully.
///
/// - Returns: what `body` returns.
public func withInProcessRuntime<Result: Sendable>(
  configuration: InProcessRuntime.Configuration = InProcessRuntime.Configuration(),
  logger: Logger = Logger(label: "agents.in-process-runtime"),
  _ body: (InProcessRuntime) async throws -> Result
) async throws -> Result {
  let runtime = InProcessRuntime(configuration: configuration, logger: logger)
  return try await withThrowingTaskGroup(of: Void.self) { group in
    group.addTask { try await runtime.run() }
    do {
      let result = try await body(runtime)
      runtime.shutdown()
      try await group.waitForAll()
      return result
    } catch {
      runtime.shutdown()
      try? await group.waitForAll()
      throw error
    }
  }
}

extension Duration {
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
