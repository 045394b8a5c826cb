/// Describes an agent instance.
public struct AgentMetadata: Hashable, Sendable, Codable {
  /// The agent's type name.
  public var type: String
  /// The agent's key.
  public var key: String
  /// A human-readable description.
  public var description: String

  /// Creates metadata.
  public init(type: String, key: String, description: String) {
    self.type = type
    self.key = key
    self.description = description
  }
}

/// An agent: an actor that handles messages addressed to its ``id``.
///
/// Agents are actors, so their state is safe from data races. A runtime creates agents lazily,
/// one per ``AgentId``, with the factory given when the type was registered.
///
/// **Ordering.** Messages to one agent *start* in the order they arrived. They run on the agent's
/// actor one at a time, interleaving only where a handler suspends (Swift actor reentrancy): while
/// a handler awaits, say, a `send` whose answer depends on this same agent, the next message may
/// start. That is what keeps self-sends and call cycles free of deadlock.
///
/// Most agents conform to ``RoutedAgent`` rather than implementing ``handle(_:context:)``.
public protocol Agent: Actor {
  /// This instance's id.
  nonisolated var id: AgentId { get }

  /// This instance's metadata. The default uses ``id`` and an empty description.
  nonisolated var metadata: AgentMetadata { get }

  /// Handles one message.
  ///
  /// - Returns: the response for an RPC (`nil` for none); ignored for a published message.
  /// - Throws: any error; for an RPC the caller receives its text.
  func handle(_ message: any Sendable, context: MessageContext) async throws -> (any Sendable)?

  /// Returns the state to save. The default saves nothing.
  func saveState() async throws -> AgentState

  /// Restores state saved by ``saveState()``. The default ignores it.
  func loadState(_ state: AgentState) async throws
}

extension Agent {
  public nonisolated var metadata: AgentMetadata {
    AgentMetadata(type: id.type.name, key: id.key, description: "")
  }

  public func saveState() async throws -> AgentState { [:] }

  public func loadState(_ state: AgentState) async throws {}

  /// Runs `handle` with ``MessageContext/current`` set, after calling `onStart` on the actor.
  ///
  /// Runtimes call this so they can wait until a message has *started* on the actor before
  /// starting the next one: that is how arrival order is kept without serializing handlers.
  package func receive(
    _ message: any Sendable,
    context: MessageContext,
    onStart: @Sendable () -> Void
  ) async throws -> (any Sendable)? {
    onStart()
    return try await MessageContext.$current.withValue(context) {
      try await self.handle(message, context: context)
    }
  }
}

/// Creates the agent for an id; given to ``AgentRuntime/register(_:subscriptions:factory:)``.
///
/// The runtime passes itself so the agent can send and publish.
public typealias AgentFactory = @Sendable (AgentId, any AgentRuntime) async throws -> any Agent
