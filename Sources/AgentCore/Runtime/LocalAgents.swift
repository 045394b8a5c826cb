import Foundation
package import Logging
package import Synchronization
package import Tracing

/// The agents a runtime hosts in this process: registered factories, lazily created instances,
/// and one mailbox per instance whose messages start in arrival order.
///
/// Shared by ``InProcessRuntime`` and the gRPC worker runtime. Call ``run()`` from the runtime's
/// `run()`; ``shutdown()`` stops new deliveries and lets queued and running handlers finish, after
/// which ``run()`` returns.
package final class LocalAgents: Sendable {
  /// One message for one agent.
  package struct Envelope: Sendable {
    package var message: any Sendable
    package var context: MessageContext
    /// Set for an RPC: resolved with the handler's result. Whoever waits may resolve it first
    /// (deadline, cancellation), which cancels the handler.
    package var reply: OneShot<(any Sendable)?>?
    /// For an RPC: when the caller stops waiting. The handler is cancelled then.
    package var deadline: ContinuousClock.Instant?
    /// The sender's trace context, which the handler's span continues (see ``MessageTracing``).
    package var trace: ServiceContext?

    package init(
      message: any Sendable,
      context: MessageContext,
      reply: OneShot<(any Sendable)?>?,
      deadline: ContinuousClock.Instant? = nil,
      trace: ServiceContext? = nil
    ) {
      self.message = message
      self.context = context
      self.reply = reply
      self.deadline = deadline
      self.trace = trace
    }
  }

  private struct Slot: Sendable {
    var mailbox: AsyncStream<Envelope>.Continuation
    var instance: OneShot<any Agent>
  }

  private struct State {
    var factories: [AgentType: AgentFactory] = [:]
    var slots: [AgentId: Slot] = [:]
    var isRunning = false
    var isShutDown = false
  }

  private let logger: Logger
  private let tracing: MessageTracing
  private let gracePeriod: Duration
  /// Where ``StatefulAgent``s' state is loaded from and saved to; `nil`: it is not kept.
  private let stateSettings: StateSettings?
  private let shutdownRequested = OneShot<Void>()
  private let state = Mutex(State())
  private let jobs: AsyncStream<@Sendable () async -> Void>
  private let jobsContinuation: AsyncStream<@Sendable () async -> Void>.Continuation

  /// - Parameter gracePeriod: how long handlers still running at shutdown may take before they
  ///   are cancelled.
  package init(logger: Logger, gracePeriod: Duration, state: StateSettings? = nil, tracing: MessageTracing = .current) {
    self.logger = logger
    self.tracing = tracing
    self.gracePeriod = gracePeriod
    self.stateSettings = state
    (jobs, jobsContinuation) = AsyncStream.makeStream()
  }

  package static var shutDownError: AgentRuntimeError {
    AgentRuntimeError(code: .unavailable, message: "the runtime is shut down")
  }

  // MARK: Lifecycle

  /// Runs agents until ``shutdown()`` and until every queued and running handler is done, or the
  /// grace period after shutdown has passed (then the remaining handlers are cancelled).
  package func run() async throws {
    try state.withLock { state throws(AgentRuntimeError) in
      guard !state.isRunning else {
        throw AgentRuntimeError(code: .unavailable, message: "the runtime was already started")
      }
      state.isRunning = true
    }
    let gracePeriod = self.gracePeriod
    let logger = self.logger
    await withTaskGroup(of: Bool.self) { outer in
      outer.addTask {
        await withDiscardingTaskGroup { group in
          for await job in self.jobs {
            group.addTask { await job() }
          }
        }
        return true
      }
      outer.addTask {
        _ = try? await self.shutdownRequested.value()
        do { try await Task.sleep(for: gracePeriod) } catch { return false }
        return false
      }
      if await outer.next() == false {
        logger.warning("handlers still running after the shutdown grace period are cancelled", metadata: ["grace": "\(gracePeriod)"])
      }
      outer.cancelAll()
    }
  }

  /// Stops accepting messages; ``run()`` returns once queued and running handlers are done.
  /// Idempotent.
  package func shutdown() {
    let mailboxes: [AsyncStream<Envelope>.Continuation] = state.withLock { state in
      guard !state.isShutDown else { return [] }
      state.isShutDown = true
      return state.slots.values.map(\.mailbox)
    }
    for mailbox in mailboxes { mailbox.finish() }
    jobsContinuation.finish()
    shutdownRequested.resolve(.success(()))
  }

  package var isShutDown: Bool { state.withLock { $0.isShutDown } }

  // MARK: Registration

  /// Registers a factory for `type`.
  ///
  /// - Throws: ``AgentRuntimeError/Code/alreadyExists`` when `type` is registered.
  package func register(_ type: AgentType, factory: @escaping AgentFactory) throws(AgentRuntimeError) {
    try state.withLock { state throws(AgentRuntimeError) in
      guard state.factories[type] == nil else {
        throw AgentRuntimeError(code: .alreadyExists, message: "agent type '\(type)' is already registered")
      }
      state.factories[type] = factory
    }
  }

  /// The local half of an `AgentRuntime.register`: the factory, the serializers derived from `A`
  /// (added to `serializers`, so that the type's first message already deserializes), and the
  /// class-level subscriptions to add (those given, then those `A` declares).
  ///
  /// - Throws: ``AgentRuntimeError/Code/alreadyExists`` when `type` is registered, and what an
  ///   invalid subscription throws; nothing is registered then.
  package func register<A: Agent>(
    _ type: AgentType,
    subscriptions: [TopicFilter],
    factory: @escaping @Sendable (AgentId, any AgentRuntime) async throws -> A,
    serializers: borrowing Mutex<SerializationRegistry>
  ) throws(AgentRuntimeError) -> [Subscription] {
    let traits = RegisteredAgentTraits(of: A.self, subscriptions: subscriptions)
    let classSubscriptions = try traits.subscriptions.subscriptions(for: type)
    try register(type, factory: { try await factory($0, $1) })
    serializers.withLock { $0.formUnion(traits.serializers) }
    return classSubscriptions
  }

  /// Removes the registration of `type` (used to roll back a registration the host refused).
  package func unregister(_ type: AgentType) {
    _ = state.withLock { $0.factories.removeValue(forKey: type) }
  }

  package func isRegistered(_ type: AgentType) -> Bool {
    state.withLock { $0.factories[type] != nil }
  }

  package var registeredTypes: [AgentType] {
    state.withLock { $0.factories.keys.sorted() }
  }

  // MARK: Delivery

  /// Queues `envelope` for its recipient, creating the agent on first use.
  ///
  /// - Throws: ``AgentRuntimeError/Code/unknownAgentType`` when the recipient's type is not
  ///   registered here; ``AgentRuntimeError/Code/unavailable`` after shutdown.
  package func deliver(_ envelope: Envelope, runtime: any AgentRuntime) throws(AgentRuntimeError) {
    let slot = try slot(for: envelope.context.recipient, runtime: runtime)
    if case .terminated = slot.mailbox.yield(envelope) {
      throw Self.shutDownError
    }
  }

  /// `agent` as an `A`, for the runtimes' `agent(_:as:)` test helpers.
  package static func typed<A: Agent>(_ agent: any Agent, id: AgentId, as: A.Type) throws(AgentRuntimeError) -> A {
    guard let typed = agent as? A else {
      throw AgentRuntimeError(code: .invalidArgument, message: "agent \(id) is a \(type(of: agent)), not a \(A.self)")
    }
    return typed
  }

  /// The agent with `id`, created if needed, waiting at most `timeout` for its factory.
  package func agent(for id: AgentId, runtime: any AgentRuntime, timeout: Duration) async throws -> any Agent {
    let slot = try slot(for: id, runtime: runtime)
    return try await withDeadline(
      timeout,
      timeoutError: {
        AgentRuntimeError(
          code: .deadlineExceeded, message: "agent \(id) was not created within \(timeout.secondsDescription)")
      },
      cancelledError: { AgentRuntimeError(code: .cancelled, message: "waiting for agent \(id) was cancelled") },
      { try await slot.instance.value() }
    )
  }

  /// The slot for `id`, creating it (and scheduling the agent's creation) on first use.
  private func slot(for id: AgentId, runtime: any AgentRuntime) throws(AgentRuntimeError) -> Slot {
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
        await self.runAgent(id: id, slot: slot, factory: newFactory, mailbox: stream, runtime: runtime)
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
    mailbox: AsyncStream<Envelope>,
    runtime: any AgentRuntime
  ) async {
    let agent: any Agent
    let keeper: StateKeeper?
    do {
      agent = try await factory(id, runtime)
      guard agent.id == id else {
        throw AgentRuntimeError(
          code: .internalError,
          message: "the factory for '\(id.type)' made an agent with id \(agent.id), expected \(id)"
        )
      }
      // Activation: a stateful agent gets its saved state before its first message.
      if let stateSettings, let stateful = agent as? any StatefulAgent {
        keeper = StateKeeper(id: id, settings: stateSettings, agent: stateful, instance: ObjectIdentifier(slot.instance))
        try await keeper?.activate()
      } else {
        keeper = nil
      }
      slot.instance.resolve(.success(agent))
    } catch {
      // A store that is down stays `unavailable` (worth a retry); a state that fails to load
      // stays `stateStoreFailed`.
      let code = (error as? AgentRuntimeError)?.code ?? .internalError
      let failure = AgentRuntimeError(
        code: [.stateStoreFailed, .unavailable].contains(code) ? code : .internalError,
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
            await self.handle(envelope, agent: agent, keeper: keeper, onStart: { started.resume() })
          }
        }
      }
    }
  }

  private func handle(
    _ envelope: Envelope, agent: any Agent, keeper: StateKeeper?, onStart: @escaping @Sendable () -> Void
  ) async {
    guard let reply = envelope.reply else {
      await run(envelope, agent: agent, keeper: keeper, onStart: onStart)
      return
    }
    // An RPC: when the caller stops waiting (it resolves the reply with its own error) or its
    // deadline passes, cancel the handler. When the handler finishes first, its result resolves the
    // reply and this ends.
    await withTaskGroup(of: Void.self) { group in
      group.addTask { await self.run(envelope, agent: agent, keeper: keeper, onStart: onStart) }
      group.addTask { _ = try? await reply.value() }
      if let deadline = envelope.deadline {
        let recipient = envelope.context.recipient
        group.addTask {
          guard (try? await Task.sleep(until: deadline)) != nil else { return }
          reply.resolve(.failure(AgentRuntimeError(
            code: .deadlineExceeded, message: "\(recipient) did not answer before the caller's deadline")))
        }
      }
      await group.next()
      group.cancelAll()
    }
  }

  private func run(
    _ envelope: Envelope, agent: any Agent, keeper: StateKeeper?, onStart: @escaping @Sendable () -> Void
  ) async {
    let span = tracing.startHandling(envelope.context, message: envelope.message, parent: envelope.trace)
    defer { span?.end() }
    let response: (any Sendable)?
    do {
      if let span {
        var context = envelope.context
        context.span = span  // its chunks are events on it
        response = try await ServiceContext.withValue(span.context) {
          try await agent.receive(envelope.message, context: context, onStart: onStart)
        }
      } else {
        response = try await agent.receive(envelope.message, context: envelope.context, onStart: onStart)
      }
    } catch {
      if let span { MessageTracing.failed(span, error) }
      // Nothing is saved, and the instance's state goes back to the last saved one.
      await keeper?.rollBack()
      return failed(envelope, error)
    }
    // The handler completed: its state is saved before its answer goes out.
    if let keeper {
      do {
        try await keeper.save()
      } catch {
        logger.error("agent state not saved", metadata: ["agent": "\(keeper.id)", "error": "\(error)"])
        if let span { MessageTracing.failed(span, error) }
        await keeper.rollBack()
        if error.code == .stateConflict { retire(keeper) }
        envelope.reply?.resolve(.failure(error))
        return
      }
    }
    envelope.reply?.resolve(.success(response))
  }

  /// Forgets an instance whose save was refused as stale (it was moved, or another instance saved
  /// meanwhile): its queued messages still reach it (and fail the same way), and the next message
  /// for its id activates a new instance from the stored state.
  private func retire(_ keeper: StateKeeper) {
    let mailbox: AsyncStream<Envelope>.Continuation? = state.withLock { state in
      guard let slot = state.slots[keeper.id], ObjectIdentifier(slot.instance) == keeper.instance else { return nil }
      state.slots[keeper.id] = nil
      return slot.mailbox
    }
    guard let mailbox else { return }
    logger.notice("stale agent instance retired; its next message activates it again", metadata: ["agent": "\(keeper.id)"])
    mailbox.finish()
  }

  /// A handler threw: its caller gets the error (nothing is saved).
  private func failed(_ envelope: Envelope, _ error: any Error) {
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
