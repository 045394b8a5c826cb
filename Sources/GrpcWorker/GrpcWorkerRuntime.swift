public import AgentCore
import AgentWire
import Foundation
import GRPCCore
public import Logging
public import ServiceLifecycle
import Synchronization

/// An `AgentRuntime` that hosts agents in this process and reaches every other agent through a
/// host (`runtime-host`, or AutoGen's `GrpcWorkerAgentRuntimeHost`) over gRPC.
///
/// It implements the same API as `InProcessRuntime`, so agent code runs unchanged on either.
/// Messages that cross the wire need serializers: those of a routed agent's handlers are derived
/// when its type is registered; give others in a `SerializationRegistry`.
///
/// ```swift
/// try await withGrpcWorker(configuration: try .init(host: "localhost:50051")) { worker in
///   try await worker.register("assistant", subscriptions: [.defaultTopic]) { id, runtime in
///     Assistant(id: id, runtime: runtime)
///   }
///   try await worker.publish(ChatMessage(text: "hello"), to: .default())
/// }
/// ```
///
/// The file layout follows a message's path: `+Outgoing` (send, publish), `+Incoming` (requests,
/// responses and events from the host), `+Registration`, `+Link` (the link's state machine),
/// `+Connection` (one connection and the reconnect loop), `HostClient` (unary calls).
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
  struct Pending {
    var replies: [String: OneShot<(any Sendable)?>] = [:]
    /// Chunk callbacks of this worker's streamed calls, by request id.
    var chunkHandlers: [String: @Sendable (_ chunk: any Sendable, _ sequence: UInt64) -> Void] = [:]
    var nextRequestId: UInt64 = 1
    /// Requests this worker's agents are handling, by the id the host gave them: a cancel notice
    /// from the host resolves the reply, which cancels the handler.
    var incoming: [String: OneShot<(any Sendable)?>] = [:]
  }

  /// This worker's settings.
  public let configuration: Configuration
  /// How messages are traced: with the tracer installed when the worker was created.
  let tracing = MessageTracing.current
  /// The message types this worker can put on the wire: those given at creation, plus those
  /// derived from each registered `RoutedAgent`'s handlers.
  public var serializers: SerializationRegistry { registry.withLock { $0 } }

  /// Serializes with the registry in place (under its lock, no copy of it per message).
  func serialize(_ message: any Sendable) throws(AgentRuntimeError) -> SerializedPayload {
    try registry.withLock { registry throws(AgentRuntimeError) in try registry.serialize(message) }
  }

  /// Deserializes with the registry in place (under its lock, no copy of it per message).
  func deserialize(_ payload: SerializedPayload) throws(AgentRuntimeError) -> any Sendable {
    try registry.withLock { registry throws(AgentRuntimeError) in try registry.deserialize(payload) }
  }
  let registry: Mutex<SerializationRegistry>
  let logger: Logger
  let agents: LocalAgents
  let subscriptionSet = Mutex(SubscriptionSet())
  let pending = Mutex(Pending())
  let link: Mutex<Link>
  /// Watchers of ``ConnectionEvent``s; finished (with `.stopped`) when the worker stops.
  let connectionChanges = Broadcaster<ConnectionEvent>()
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
    self.link = Mutex(Link(maxBuffered: configuration.maxBufferedPublishes))
    let logger = logger ?? configuration.makeLogger()
    self.logger = logger
    let hostStore: HostStateStore?
    let state: StateSettings?
    switch configuration.stateStorage {
    case .host:
      let store = HostStateStore(timeout: configuration.stateTimeout)
      (hostStore, state) = (store, StateSettings(store: store, maxStateSize: configuration.maxMessageSize, timeout: configuration.stateTimeout))
    case .store(let store):
      (hostStore, state) = (nil, StateSettings(store: store, maxStateSize: configuration.maxMessageSize, timeout: configuration.stateTimeout))
    case .disabled:
      (hostStore, state) = (nil, nil)
    }
    self.agents = LocalAgents(logger: logger, gracePeriod: configuration.shutdownGracePeriod, state: state, tracing: tracing)
    hostStore?.attach(to: self)
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
    connectionChanges.subscribe()
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
            let connected = link.withLock { $0.beginClosing() }
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
                ?? AgentRuntimeError(code: .unavailable, message: "lost \(configuration.hostsDescription)", cause: error)
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
    let (ready, reason, dropped) = link.withLock { $0.stop(error) }
    if dropped > 0 {
      logger.warning("buffered publishes dropped: the worker stopped before reconnecting", metadata: ["count": "\(dropped)"])
    }
    ready.resolve(.failure(reason))
    failPending(error)
    connectionChanges.finish(with: .stopped)
  }

  /// Waits for a live, registered connection.
  func awaitConnection(within timeout: Duration) async throws -> HostClient {
    let ready = try link.withLock { link throws(AgentRuntimeError) in try link.connection() }
    let hosts = configuration.hostsDescription
    return try await withDeadline(
      timeout,
      timeoutError: {
        AgentRuntimeError(
          code: .unavailable, message: "not connected to \(hosts) within \(timeout.secondsDescription)")
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
