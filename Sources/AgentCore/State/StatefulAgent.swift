package import Foundation

/// An agent whose state the runtime keeps across restarts and moves.
///
/// Declare the state as a `Codable` value in ``state``; the runtime loads it when the instance is
/// activated (its first message after creation, or after a move) and saves it after each handler
/// that runs to completion, before the RPC's response goes out. A handler that throws, or whose
/// save fails, saves nothing, and the instance's state goes back to the one last saved. A worker
/// (`GrpcWorkerRuntime`) keeps state in its host's store by default; give the in-process runtime a
/// store (``InProcessRuntime/Configuration/stateStore``). Without a store, state lives as long as
/// the instance, as for any agent.
///
/// Each message is delivered at most once: a call whose worker died before answering may or may
/// not have been applied. Make such calls safe to retry by giving them an idempotency key the agent
/// records in its state.
///
/// ```swift
/// actor Conversation: RoutedAgent, StatefulAgent {
///   struct State: Codable, Sendable { var turns: [String] = [] }
///   nonisolated let id: AgentId
///   var state = State()
///   init(id: AgentId) { self.id = id }
///
///   static func registerHandlers(_ router: inout MessageRouter<Conversation>) {
///     router.onRPC(ChatMessage.self) { agent, message, _ in
///       agent.state.turns.append(message.text)
///       return ChatReply(text: "turn \(agent.state.turns.count)")
///     }
///   }
/// }
/// ```
///
/// ``Agent/saveState()`` and ``Agent/loadState(_:)`` use the same representation: the state's
/// JSON, as an ``AgentState`` object.
public protocol StatefulAgent: Agent {
  /// The state's type: encoded as JSON when saved.
  associatedtype State: Codable & Sendable
  /// The state the runtime saves and loads.
  var state: State { get set }
}

extension StatefulAgent {
  /// The state as the store keeps it.
  package func encodedState() throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    return try encoder.encode(state)
  }

  /// Replaces the state with one the store kept.
  package func restoreState(from data: Data) throws {
    state = try JSONDecoder().decode(State.self, from: data)
  }

  /// The state's JSON as an ``AgentState`` (a state that is not a JSON object is under `"state"`).
  public func saveState() async throws -> AgentState {
    switch try JSONDecoder().decode(JSONValue.self, from: try encodedState()) {
    case .object(let object): return object
    case let other: return ["state": other]
    }
  }

  /// Loads state saved by ``saveState()``.
  public func loadState(_ saved: AgentState) async throws {
    do {
      try restoreState(from: try JSONEncoder().encode(JSONValue.object(saved)))
    } catch {
      // A state that is not a JSON object was saved under "state".
      guard saved.count == 1, let inner = saved["state"] else { throw error }
      try restoreState(from: try JSONEncoder().encode(inner))
    }
  }
}
