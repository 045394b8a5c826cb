public import AgentCore
import Synchronization

/// Records the messages of one type that an agent type receives, with awaitable expectations: a
/// stand-in for the agents a test does not own.
///
/// ```swift
/// let audits = MessageRecorder<AuditEvent>()
/// try await audits.register(on: worker, as: "audit-log", subscriptions: [.type("audit.events")])
/// try await worker.publish(AuditEvent(what: "login"), to: "audit.events/site-1")
/// let first = try await audits.next()
/// #expect(first.message.what == "login")
/// ```
///
/// The recording agent answers a direct message with an empty response, and refuses (as an
/// unhandled message) anything that is not a `Message`. Serializers for `Message` are derived as
/// for any routed agent (protobuf or `Codable`).
public final class MessageRecorder<Message: Sendable>: Sendable {
  /// One recorded message and how it arrived.
  public struct Received: Sendable {
    /// The message.
    public var message: Message
    /// Who it was for, who sent it, on which topic.
    public var context: MessageContext
  }

  private struct State {
    var received: [Received] = []
    /// How many ``next(within:)`` has handed out.
    var consumed = 0
  }

  private let state = Mutex(State())
  private let arrivals = Broadcaster<Void>(bufferingPolicy: .bufferingNewest(1))

  /// Creates a recorder; ``register(on:as:subscriptions:)`` puts it on a runtime.
  public init() {}

  /// Registers an agent type on `runtime` whose every instance records into this recorder.
  public func register(on runtime: any AgentRuntime, as type: AgentType, subscriptions: [TopicFilter] = []) async throws {
    try await runtime.register(type, subscriptions: subscriptions) { id, _ in RecordingAgent(id: id, recorder: self) }
  }

  /// Everything recorded so far, in arrival order.
  public var received: [Received] { state.withLock { $0.received } }

  /// The messages recorded so far, in arrival order.
  public var messages: [Message] { received.map(\.message) }

  /// The next message not yet returned by this method, waiting for it for at most `timeout`.
  ///
  /// - Throws: `AgentRuntimeError/Code/deadlineExceeded` when none arrives in time.
  public func next(within timeout: Duration = .seconds(10)) async throws -> Received {
    let arrived = await waitUntil(arrivals.subscribe(startingWith: ()), within: timeout) { [self] _ in
      state.withLock { $0.received.count > $0.consumed }
    }
    guard arrived else {
      throw AgentRuntimeError(
        code: .deadlineExceeded, message: "no \(Message.self) arrived within \(timeout) (\(received.count) recorded in all)")
    }
    return state.withLock { state in
      defer { state.consumed += 1 }
      return state.received[state.consumed]
    }
  }

  /// Waits until at least `count` messages have been recorded in all, for at most `timeout`.
  ///
  /// - Returns: everything recorded by then.
  /// - Throws: `AgentRuntimeError/Code/deadlineExceeded` naming how many arrived.
  @discardableResult
  public func waitForCount(_ count: Int, within timeout: Duration = .seconds(10)) async throws -> [Received] {
    let arrived = await waitUntil(arrivals.subscribe(startingWith: ()), within: timeout) { [self] _ in
      state.withLock { $0.received.count >= count }
    }
    guard arrived else {
      throw AgentRuntimeError(
        code: .deadlineExceeded,
        message: "\(received.count) of \(count) expected \(Message.self) messages arrived within \(timeout)")
    }
    return received
  }

  fileprivate func record(_ message: Message, context: MessageContext) {
    state.withLock { $0.received.append(Received(message: message, context: context)) }
    arrivals.yield(())
  }
}

/// The agent behind a ``MessageRecorder``.
private actor RecordingAgent<Message: Sendable>: RoutedAgent {
  nonisolated let id: AgentId
  let recorder: MessageRecorder<Message>

  init(id: AgentId, recorder: MessageRecorder<Message>) {
    self.id = id
    self.recorder = recorder
  }

  static func registerHandlers(_ router: inout MessageRouter<RecordingAgent>) {
    router.on(Message.self) { agent, message, context in agent.recorder.record(message, context: context) }
  }
}
