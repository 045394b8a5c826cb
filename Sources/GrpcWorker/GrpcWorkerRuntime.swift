public import AgentCore
import AgentWire
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
public import Logging
public import ServiceLifecycle
import SwiftProtobuf
import Synchronization

/// An `AgentRuntime` that hosts agents in this process and reaches every other agent through a
/// host (`runtime-host`, or AutoGen's `GrpcWorkerAgentRuntimeHost`) over gRPC.
///
/// It implements the same API as `InProcessRuntime`, so agent code runs unchanged on either.
/// Messages that cross the wire must be registered in the `SerializationRegistry` given here.
///
/// ```swift
/// var serializers = SerializationRegistry()
/// serializers.registerJSON(ChatMessage.self)
/// try await withGrpcWorker(configuration: .init(host: try HostAddress(parsing: "localhost:50051")),
///                          serializers: serializers) { worker in
///   try await worker.register(AgentType("assistant"), subscriptions: [.defaultTopic]) { id, runtime in
///     Assistant(id: id, runtime: runtime)
///   }
///   try await worker.publish(ChatMessage(text: "hello"), to: .default())
/// }
/// ```
///
/// Semantics (the same as in-process, across processes):
/// - `register` sends `RegisterAgent`, then `AddSubscription` for each class-level subscription,
///   then the direct-message subscription (type prefix `"<type>:"`), as AutoGen's worker does. A
///   refusal throws and leaves nothing registered locally.
/// - `send` goes through the host, has a deadline (per call, default
///   ``Configuration/defaultRPCTimeout``), and throws `AgentRuntimeError/Code/cancelled` when its
///   task is cancelled. Remote handler errors arrive as `AgentRuntimeError/Code/handlerFailed` with
///   the remote text.
/// - Every incoming RPC is answered: the handler's result, its error text, or an empty payload for a
///   handler that returns nothing.
/// - Incoming published messages are matched against this worker's subscriptions, skip the sending
///   agent, create agents keyed by the topic source, and honour the host's placement hint.
/// - Messages to one agent start in arrival order (see `Agent`); different agents run
///   concurrently.
/// - Payloads over ``Configuration/maxMessageSize`` are refused locally with
///   `AgentRuntimeError/Code/resourceExhausted`.
///
/// Connection loss (see ``Configuration/reconnect``): the worker reconnects with jittered,
/// bounded backoff, under a new client id, registers its agent types and subscriptions again, then
/// sends the publishes it buffered meanwhile (at most ``Configuration/maxBufferedPublishes``; past
/// that `publish` throws). A `send` made while disconnected waits for the connection within its
/// deadline; a send whose request was already on the lost connection fails with
/// `AgentRuntimeError/Code/unavailable`, since its answer cannot arrive. The wire protocol has no
/// acknowledgements, so a publish the transport had already accepted when the connection broke may
/// be lost; what was buffered, or not yet written, is sent exactly once.
///
/// Lifecycle: ``run()`` connects and serves until graceful shutdown (or ``shutdown()``), lets
/// in-flight handlers finish, closes the channel and returns. It throws when the host refuses the
/// worker's credentials, or when the connection is lost and reconnecting is off or has given up.
public final class GrpcWorkerRuntime: AgentRuntime, Service {
  /// What the worker needs of its live connection for unary calls.
  struct Connection: Sendable {
    var clientId: String
    var rpc: any Agents_AgentRpc.ClientProtocol
    var authToken: String?

    var metadata: Metadata {
      var metadata: Metadata = [AgentRpcMetadata.clientIdKey: .string(clientId)]
      if let authToken { metadata.addString("Bearer \(authToken)", forKey: "authorization") }
      return metadata
    }
  }

  struct Pending {
    var replies: [String: OneShot<(any Sendable)?>] = [:]
    /// Chunk callbacks of this worker's streamed calls, by request id.
    var chunkHandlers: [String: @Sendable (any Sendable) -> Void] = [:]
    var nextRequestId: UInt64 = 1
    /// Requests this worker's agents are handling, by the id the host gave them: a cancel notice
    /// from the host resolves the reply, which cancels the handler.
    var incoming: [String: OneShot<(any Sendable)?>] = [:]
  }

  /// The connection that carries traffic, once it is registered.
  struct Live: Sendable {
    var connection: Connection
    var outbox: BatchQueue<Agents_Message>
  }

  /// The worker's link to its host, across connections.
  struct Link {
    /// Set while a connection is up and registered; messages go to its outbox.
    var live: Live?
    /// Resolved when the next connection is live; replaced when it is lost.
    var ready = OneShot<Connection>()
    /// Publishes made while not connected, oldest first.
    var buffered: [Agents_Message] = []
    /// Set once the worker is stopping: no more reconnects.
    var stopping = false
    /// Why the worker stopped for good; calls fail with it.
    var failure: AgentRuntimeError?
    /// Agent types registered with the host, to register again after a reconnect.
    var registeredTypes: [AgentType] = []
    /// Watchers of ``ConnectionEvent``s.
    var watchers: [Int: AsyncStream<ConnectionEvent>.Continuation] = [:]
    var nextWatcher = 0
  }

  /// This worker's settings.
  public let configuration: Configuration
  /// The message types this worker can put on the wire: those given at creation, plus those
  /// derived from each registered `RoutedAgent`'s handlers.
  public var serializers: SerializationRegistry { registry.withLock { $0 } }
  private let registry: Mutex<SerializationRegistry>
  let logger: Logger
  let agents: LocalAgents
  let subscriptionSet = Mutex(SubscriptionSet())
  let pending = Mutex(Pending())
  let link = Mutex(Link())
  private let started = Atomic<Bool>(false)

  /// Creates a worker; it connects once ``run()`` is called.
  ///
  /// `serializers` holds the message types to serialize besides those of the registered agents'
  /// handlers (derived when each type is registered): for example the types this program sends to
  /// agents hosted elsewhere. Without a `logger`, the worker logs at ``Configuration/logLevel``.
  public init(
    configuration: Configuration,
    serializers: SerializationRegistry = SerializationRegistry(),
    logger: Logger? = nil
  ) {
    self.configuration = configuration
    self.registry = Mutex(serializers)
    let logger = logger ?? configuration.makeLogger()
    self.logger = logger
    self.agents = LocalAgents(logger: logger, gracePeriod: configuration.shutdownGracePeriod)
  }

  /// The client id of the worker's current connection, waiting for one for at most
  /// ``Configuration/defaultRPCTimeout``. It changes with every reconnect.
  public func clientId() async throws -> String {
    try await awaitConnection(within: configuration.defaultRPCTimeout).clientId
  }

  /// Whether the worker is connected and registered now.
  public var isConnected: Bool { link.withLock { $0.live != nil } }

  /// The worker's connection changes from now on, until it stops (the stream then finishes).
  public func connectionEvents() -> AsyncStream<ConnectionEvent> {
    let (stream, continuation) = AsyncStream.makeStream(of: ConnectionEvent.self)
    let id: Int? = link.withLock { link in
      guard link.failure == nil else { return nil }
      defer { link.nextWatcher += 1 }
      link.watchers[link.nextWatcher] = continuation
      return link.nextWatcher
    }
    guard let id else {
      continuation.yield(.stopped)
      continuation.finish()
      return stream
    }
    continuation.onTermination = { [weak self] _ in
      _ = self?.link.withLock { $0.watchers.removeValue(forKey: id) }
    }
    return stream
  }

  /// How many publishes wait for the connection.
  public var bufferedPublishCount: Int { link.withLock { $0.buffered.count } }

  // MARK: Lifecycle

  public func run() async throws {
    guard started.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else {
      throw AgentRuntimeError(code: .unavailable, message: "the worker was already started")
    }
    enum Exit: Sendable {
      case agentsDone
      case linkEnded((any Error)?)
      case closeTimedOut
      case timerCancelled
    }
    var failure: AgentRuntimeError?
    try await withGracefulShutdownHandler {
      try await withThrowingTaskGroup(of: Exit.self) { group in
        group.addTask {
          try await self.agents.run()
          return .agentsDone
        }
        group.addTask {
          do {
            // The connection's reads and writes stay on its event loop; agents run elsewhere.
            try await withTaskExecutorPreference(EventLoopTaskExecutor()) { try await self.maintainConnection() }
            return .linkEnded(nil)
          } catch {
            return .linkEnded(error)
          }
        }
        var linkEnded = false
        var agentsDone = false
        while let exit = try await group.next() {
          switch exit {
          case .agentsDone:
            agentsDone = true
            if linkEnded { break }
            // Every handler is done: close our side of the channel and give the host a bounded
            // time to close its side. A worker between connections stops at once.
            let connected = link.withLock { link in
              link.stopping = true
              link.live?.outbox.finish()
              return link.live != nil
            }
            guard connected else {
              group.cancelAll()
              break
            }
            let closeTimeout = configuration.closeTimeout
            group.addTask {
              do {
                try await Task.sleep(for: closeTimeout)
                return .closeTimedOut
              } catch {
                return .timerCancelled
              }
            }
          case .closeTimedOut:
            logger.debug("the host did not close the channel; dropping the connection")
            group.cancelAll()
          case .linkEnded(let error):
            linkEnded = true
            if !agents.isShutDown, let error {
              failure = error as? AgentRuntimeError
                ?? AgentRuntimeError(code: .unavailable, message: "lost the host \(configuration.host)", cause: error)
              logger.error("worker stopping", metadata: ["error": "\(failure!)"])
            }
            stop(failure)
            agents.shutdown()
            if agentsDone { group.cancelAll() }
          case .timerCancelled:
            break
          }
        }
      }
    } onGracefulShutdown: {
      self.shutdown()
    }
    stop(failure)
    if let failure { throw failure }
  }

  /// Stops taking new messages, lets in-flight handlers finish, then closes the connection so that
  /// ``run()`` returns. Idempotent.
  public func shutdown() {
    agents.shutdown()
  }

  /// Ends the link for good: waiters and pending calls fail, watchers finish.
  private func stop(_ failure: AgentRuntimeError?) {
    let error = failure ?? AgentRuntimeError(code: .unavailable, message: "the worker has stopped")
    let (ready, reason, watchers, dropped) = link.withLock { link in
      link.stopping = true
      if link.failure == nil { link.failure = error }
      defer {
        link.watchers = [:]
        link.buffered = []
      }
      return (link.ready, link.failure!, Array(link.watchers.values), link.buffered.count)
    }
    if dropped > 0 {
      logger.warning("buffered publishes dropped: the worker stopped before reconnecting", metadata: ["count": "\(dropped)"])
    }
    ready.resolve(.failure(reason))
    failPending(error)
    for watcher in watchers {
      watcher.yield(.stopped)
      watcher.finish()
    }
  }

  /// Waits for a live, registered connection.
  func awaitConnection(within timeout: Duration) async throws -> Connection {
    let ready = try link.withLock { link throws(AgentRuntimeError) in
      if let failure = link.failure { throw failure }
      return link.ready
    }
    let host = configuration.host
    return try await withDeadline(
      timeout,
      timeoutError: {
        AgentRuntimeError(
          code: .unavailable, message: "not connected to the host \(host) within \(timeout.secondsDescription)")
      },
      cancelledError: { AgentRuntimeError(code: .cancelled, message: "waiting for the host connection was cancelled") },
      { try await ready.value() }
    )
  }

  func failPending(_ error: AgentRuntimeError) {
    let replies = pending.withLock { pending in
      defer { pending.replies = [:] }
      return Array(pending.replies.values)
    }
    for reply in replies { reply.resolve(.failure(error)) }
  }

  /// Refuses a payload over ``Configuration/maxMessageSize`` before anything is sent.
  func checkSize(_ payload: SerializedPayload, _ what: @autoclosure () -> String) throws(AgentRuntimeError) {
    guard payload.data.count <= configuration.maxMessageSize else {
      throw AgentRuntimeError(
        code: .resourceExhausted,
        message: "\(what()) is \(payload.data.count) bytes, over the limit of \(configuration.maxMessageSize) bytes (maxMessageSize); nothing was sent")
    }
  }

  // MARK: Registration and subscriptions

  public func register<A: Agent>(
    _ type: AgentType,
    subscriptions: [TopicFilter],
    factory: @escaping @Sendable (AgentId, any AgentRuntime) async throws -> A
  ) async throws {
    let traits = RegisteredAgentTraits(of: A.self, subscriptions: subscriptions)
    let classSubscriptions = try traits.subscriptions.subscriptions(for: type)
    try agents.register(type, factory: { try await factory($0, $1) })
    // Before the host knows the type, so that its first message already deserializes.
    registry.withLock { $0.formUnion(traits.serializers) }
    var added: [Subscription] = []
    do {
      let connection = try await awaitConnection(within: configuration.defaultRPCTimeout)
      try await unary("RegisterAgent") {
        _ = try await connection.rpc.registerAgent(
          .with { $0.type = type.name }, metadata: connection.metadata, options: self.callOptions)
      }
      link.withLock { $0.registeredTypes.append(type) }
      for subscription in classSubscriptions + [Subscription.directMessages(for: type)] {
        try await addSubscription(subscription, via: connection)
        added.append(subscription)
      }
      logger.info("agent type registered", metadata: ["type": "\(type)", "subscriptions": "\(added.count)"])
    } catch {
      // Leave nothing half-registered here. (The host keeps the type name until this worker
      // disconnects; requests for it are answered with an error.)
      for subscription in added {
        try? await removeSubscription(id: subscription.id)
      }
      link.withLock { $0.registeredTypes.removeAll { $0 == type } }
      agents.unregister(type)
      throw error
    }
  }

  public func addSubscription(_ subscription: Subscription) async throws {
    try await addSubscription(subscription, via: try await awaitConnection(within: configuration.defaultRPCTimeout))
  }

  /// The agent instance with `id` on this worker, created if needed: for tests that look at an
  /// agent's state directly. (An instance placed on another worker is not reachable this way.)
  ///
  /// - Throws: `AgentRuntimeError/Code/unknownAgentType` when the type is not registered here,
  ///   and `AgentRuntimeError/Code/invalidArgument` when the instance is not an `A`.
  public func agent<A: Agent>(_ id: AgentId, as: A.Type = A.self) async throws -> A {
    let agent = try await agents.agent(for: id, runtime: self, timeout: configuration.defaultRPCTimeout)
    return try LocalAgents.typed(agent, id: id, as: A.self)
  }

  private func addSubscription(_ subscription: Subscription, via connection: Connection) async throws {
    try subscriptionSet.withLock { set throws(AgentRuntimeError) in try set.add(subscription) }
    do {
      try await unary("AddSubscription") {
        _ = try await connection.rpc.addSubscription(
          .with { $0.subscription = Agents_Subscription(subscription) },
          metadata: connection.metadata, options: self.callOptions)
      }
    } catch {
      _ = subscriptionSet.withLock { set in try? set.remove(id: subscription.id) }
      throw error
    }
  }

  public func removeSubscription(id: String) async throws {
    let connection = try await awaitConnection(within: configuration.defaultRPCTimeout)
    try await unary("RemoveSubscription") {
      _ = try await connection.rpc.removeSubscription(
        .with { $0.id = id }, metadata: connection.metadata, options: self.callOptions)
    }
    _ = subscriptionSet.withLock { set in try? set.remove(id: id) }
  }

  /// This worker's subscriptions (the ones it matches incoming messages against).
  public var subscriptions: [Subscription] {
    subscriptionSet.withLock { $0.all }
  }

  var callOptions: CallOptions {
    var options = CallOptions.defaults
    options.timeout = configuration.defaultRPCTimeout
    return options
  }

  /// Runs a unary call, turning a host refusal into an `AgentRuntimeError`.
  func unary(_ method: String, _ call: () async throws -> Void) async throws {
    do {
      try await call()
    } catch let error as RPCError {
      // The link's end explains a call cut short by it (e.g. refused credentials).
      if let failure = link.withLock({ $0.failure }) { throw failure }
      let code: AgentRuntimeError.Code
      switch error.code {
      case .invalidArgument where error.message.contains("already exists"), .alreadyExists: code = .alreadyExists
      case .invalidArgument: code = .invalidArgument
      case .notFound: code = .notFound
      case .deadlineExceeded: code = .deadlineExceeded
      case .cancelled: code = .cancelled
      case .resourceExhausted: code = .resourceExhausted
      case .unauthenticated, .permissionDenied: code = .unauthenticated
      default: code = .unavailable
      }
      throw AgentRuntimeError(code: code, message: "the host refused \(method): \(error.message)", cause: error)
    }
  }

  // MARK: Messaging

  /// Puts `message` on the live connection. Returns false when there is none.
  private func enqueue(_ message: Agents_Message) -> Bool {
    link.withLock { link in link.live?.outbox.append(message) ?? false }
  }

  public func send(
    _ message: any Sendable,
    to recipient: AgentId,
    options: SendOptions
  ) async throws -> (any Sendable)? {
    try await call(message, to: recipient, options: options, onChunk: nil)
  }

  /// Sends a direct message and streams the handler's chunks to `onChunk` (see
  /// `AgentRuntime/send(_:to:options:onChunk:)`). Chunks travel as
  /// `StreamedCallWire` describes; they need our host (AutoGen's host delivers the result only).
  public func send(
    _ message: any Sendable,
    to recipient: AgentId,
    options: SendOptions,
    onChunk: @escaping @Sendable (any Sendable) -> Void
  ) async throws -> (any Sendable)? {
    try await call(message, to: recipient, options: options, onChunk: onChunk)
  }

  private func call(
    _ message: any Sendable,
    to recipient: AgentId,
    options: SendOptions,
    onChunk: (@Sendable (any Sendable) -> Void)?
  ) async throws -> (any Sendable)? {
    guard !agents.isShutDown else { throw LocalAgents.shutDownError }
    let timeout = options.timeout ?? configuration.defaultRPCTimeout
    let deadline = ContinuousClock.now + timeout
    let payload = try serializers.serialize(message)
    try checkSize(payload, "the message to \(recipient)")
    let sender = options.sender ?? MessageContext.current?.recipient
    let reply = OneShot<(any Sendable)?>()
    let requestId = pending.withLock { pending in
      let id = String(pending.nextRequestId)
      pending.nextRequestId += 1
      pending.replies[id] = reply
      if let onChunk { pending.chunkHandlers[id] = onChunk }
      return id
    }
    defer {
      pending.withLock {
        $0.replies[requestId] = nil
        $0.chunkHandlers[requestId] = nil
      }
    }
    let request = Agents_RpcRequest.with {
      $0.requestID = requestId
      $0.target = Agents_AgentId(recipient)
      if let sender { $0.source = Agents_AgentId(sender) }
      $0.payload = Agents_Payload(payload)
      $0.metadata[RpcTimeout.metadataKey] = RpcTimeout.wireValue(timeout)
      if onChunk != nil { $0.metadata[StreamedCallWire.requestKey] = "1" }
    }
    let frame = Agents_Message.with { $0.request = request }
    // While disconnected, wait for the connection within this call's deadline.
    while !enqueue(frame) {
      do {
        _ = try await awaitConnection(within: max(.zero, deadline - .now))
      } catch let error as AgentRuntimeError where error.code == .unavailable && link.withLock({ $0.failure == nil }) {
        throw AgentRuntimeError(
          code: .unavailable,
          message: "cannot reach \(recipient): not connected to the host \(configuration.host) within \(timeout.secondsDescription)",
          cause: error)
      }
    }
    do {
      return try await reply.await(timeout: max(.zero, deadline - .now), from: recipient, callerTimeout: timeout)
    } catch let error as AgentRuntimeError where error.code == .cancelled {
      // Tell the host this caller has gone, so the callee's handler is cancelled now rather than
      // at its deadline.
      _ = enqueue(.with { $0.cloudEvent = .cancelNotice(requestId: requestId) })
      throw error
    }
  }

  public func publish(
    _ message: any Sendable,
    to topic: TopicId,
    options: PublishOptions
  ) async throws {
    guard !agents.isShutDown else { throw LocalAgents.shutDownError }
    let event = PublishedEvent(
      topic: topic,
      sender: options.sender ?? MessageContext.current?.recipient,
      messageId: options.messageId ?? UUID().uuidString,
      payload: try serializers.serialize(message)
    )
    try checkSize(event.payload, "the message published to \(topic)")
    let wire = try Io_Cloudevents_V1_CloudEvent(event)
    let frame = Agents_Message.with { $0.cloudEvent = wire }
    let bound = configuration.maxBufferedPublishes
    let host = configuration.host
    try link.withLock { link throws(AgentRuntimeError) in
      if let live = link.live, live.outbox.append(frame) { return }
      if let failure = link.failure { throw failure }
      guard link.buffered.count < bound else {
        throw AgentRuntimeError(
          code: .resourceExhausted,
          message: "not connected to the host \(host), and \(bound) publishes already wait for the connection (maxBufferedPublishes); this one was refused")
      }
      link.buffered.append(frame)
    }
  }

  public func agentMetadata(_ id: AgentId) async throws -> AgentMetadata {
    try await localAgent(id).metadata
  }

  public func saveAgentState(_ id: AgentId) async throws -> AgentState {
    try await localAgent(id).saveState()
  }

  public func loadAgentState(_ id: AgentId, state: AgentState) async throws {
    try await localAgent(id).loadState(state)
  }

  /// Metadata and state are available for agents this worker hosts.
  private func localAgent(_ id: AgentId) async throws -> any Agent {
    guard agents.isRegistered(id.type) else {
      throw AgentRuntimeError(
        code: .unknownAgentType,
        message: "agent type '\(id.type)' is not hosted by this worker; metadata and state are local only")
    }
    return try await agents.agent(for: id, runtime: self, timeout: configuration.defaultRPCTimeout)
  }

  // MARK: Incoming

  func handleIncoming(_ message: Agents_Message) {
    switch message.message {
    case .request(let request): handleRequest(request)
    case .response(let response): handleResponse(response)
    case .cloudEvent(let event): handleEvent(event)
    case nil: logger.warning("message with no case set ignored")
    }
  }

  private func respond(to requestId: String, with result: Result<(any Sendable)?, any Error>) {
    var response: Agents_RpcResponse
    switch result {
    case .success(nil):
      // An explicitly present, empty payload: "returned nothing", which a response with neither a
      // payload nor an error (AutoGen's answer for a cancelled handler) must not be taken for.
      response = Agents_RpcResponse()
      response.requestID = requestId
      response.payload = Agents_Payload()
    case .success(let value?):
      do {
        let payload = try serializers.serialize(value)
        try checkSize(payload, "the response to request '\(requestId)'")
        response = Agents_RpcResponse()
        response.requestID = requestId
        response.payload = Agents_Payload(payload)
      } catch {
        response = Agents_RpcResponse(requestId: requestId, error: error)
      }
    case .failure(let error):
      response = Agents_RpcResponse(requestId: requestId, error: AgentRuntimeError.wrappingHandlerError(error))
    }
    // Without a connection there is nobody to answer: the host has already failed the caller.
    if !enqueue(.with { $0.response = response }) {
      logger.debug("response dropped: not connected", metadata: ["request-id": "\(requestId)"])
    }
  }

  private func handleRequest(_ request: Agents_RpcRequest) {
    let requestId = request.requestID
    let target: AgentId
    do {
      guard request.hasTarget else {
        throw AgentRuntimeError(code: .invalidArgument, message: "RpcRequest '\(requestId)' has no target")
      }
      target = try AgentId(wire: request.target)
    } catch {
      return respond(to: requestId, with: .failure(error))
    }
    let message: any Sendable
    do {
      let payload = SerializedPayload(wire: request.payload)
      guard payload.data.count <= configuration.maxMessageSize else {
        throw AgentRuntimeError(
          code: .resourceExhausted,
          message: "the request to \(target) is \(payload.data.count) bytes, over the receiving worker's limit of \(configuration.maxMessageSize) bytes")
      }
      message = try serializers.deserialize(payload)
    } catch {
      return respond(to: requestId, with: .failure(error))
    }
    var context = MessageContext(
      recipient: target,
      sender: request.hasSource ? try? AgentId(wire: request.source) : nil,
      topic: nil,
      isRPC: true,
      messageId: requestId
    )
    let chunks = request.metadata[StreamedCallWire.requestKey] != nil ? chunkSink(forRequest: requestId, from: target) : nil
    context.chunkSink = chunks
    let reply = OneShot<(any Sendable)?>()
    pending.withLock { $0.incoming[requestId] = reply }
    reply.onResolve { result in
      chunks?.close()
      _ = self.pending.withLock { $0.incoming.removeValue(forKey: requestId) }
      self.respond(to: requestId, with: result)
    }
    // A Swift caller says how long it waits; stop the handler then. (AutoGen's callers do not.)
    let deadline = RpcTimeout.duration(request.metadata[RpcTimeout.metadataKey]).map { ContinuousClock.now + $0 }
    do {
      try agents.deliver(
        LocalAgents.Envelope(message: message, context: context, reply: reply, deadline: deadline), runtime: self)
    } catch {
      let refusal: AgentRuntimeError = error.code == .unknownAgentType
        ? AgentRuntimeError(code: .unknownAgentType, message: "agent type '\(target.type)' is not hosted by this worker")
        : error
      reply.resolve(.failure(refusal))
    }
  }

  private func handleResponse(_ response: Agents_RpcResponse) {
    let reply = pending.withLock { pending in
      pending.chunkHandlers[response.requestID] = nil  // no chunk after the result
      return pending.replies.removeValue(forKey: response.requestID)
    }
    guard let reply else {
      logger.debug("response for an unknown or expired request dropped", metadata: ["request-id": "\(response.requestID)"])
      return
    }
    if let error = response.runtimeError {
      reply.resolve(.failure(error))
      return
    }
    guard response.hasPayload else {
      // Another host forwarded AutoGen's answer for a cancelled handler as it is.
      reply.resolve(.failure(AgentRuntimeError(
        code: .handlerFailed, message: "the agent answered with neither a result nor an error")))
      return
    }
    let payload = response.payload
    if payload.dataType.isEmpty && payload.data.isEmpty {
      reply.resolve(.success(nil))
      return
    }
    do {
      reply.resolve(.success(try serializers.deserialize(SerializedPayload(wire: payload))))
    } catch {
      reply.resolve(.failure(error))
    }
  }

  private func handleEvent(_ wire: Io_Cloudevents_V1_CloudEvent) {
    if let requestId = StreamedCallWire.requestId(ofTopicType: wire.type) {
      return handleChunk(wire, requestId: String(requestId))
    }
    if wire.type == StreamedCallWire.cancelEventType {
      return handleCancel(requestId: wire.source)
    }
    let event: PublishedEvent
    let message: any Sendable
    do {
      event = try PublishedEvent(wire: wire)
      guard [ContentType.json, ContentType.protobuf].contains(event.payload.contentType) else {
        throw AgentRuntimeError(
          code: .invalidArgument, message: "unsupported content type '\(event.payload.contentType)'")
      }
      message = try serializers.deserialize(event.payload)
    } catch {
      logger.warning("published message dropped", metadata: ["event-id": "\(wire.id)", "error": "\(error)"])
      return
    }
    var recipients = subscriptionSet.withLock { $0.recipients(for: event.topic) }
    if let hint = event.recipientTypes {
      recipients.removeAll { !hint.contains($0.type) }
    }
    for recipient in recipients where recipient != event.sender && agents.isRegistered(recipient.type) {
      let context = MessageContext(
        recipient: recipient, sender: event.sender, topic: event.topic, isRPC: false, messageId: event.messageId)
      do {
        try agents.deliver(LocalAgents.Envelope(message: message, context: context, reply: nil), runtime: self)
      } catch {
        logger.warning("published message not delivered", metadata: ["recipient": "\(recipient)", "error": "\(error)"])
      }
    }
  }
}

/// Runs a ``GrpcWorkerRuntime`` connected to its host for the duration of `body`, then shuts it
/// down gracefully (in-flight handlers finish first).
public func withGrpcWorker<Result: Sendable>(
  configuration: GrpcWorkerRuntime.Configuration,
  serializers: SerializationRegistry = SerializationRegistry(),
  logger: Logger? = nil,
  _ body: @Sendable (GrpcWorkerRuntime) async throws -> Result
) async throws -> Result {
  try await withRunningService(
    GrpcWorkerRuntime(configuration: configuration, serializers: serializers, logger: logger),
    run: { try await $0.run() },
    ready: { _ = try await $0.clientId() },
    shutdown: { $0.shutdown() },
    body
  )
}

extension HostAddress {
  /// The transport's target for this address: an IP literal as is, anything else resolved by name.
  package var resolvableTarget: any ResolvableTarget {
    if isIPv6 { return .ipv6(address: host, port: port) }
    if isIPv4 { return .ipv4(address: host, port: port) }
    return .dns(host: host, port: port)
  }
}
