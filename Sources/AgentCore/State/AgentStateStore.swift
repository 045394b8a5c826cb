public import Foundation
import Synchronization

/// An agent's saved state and its version.
public struct StoredAgentState: Sendable, Hashable {
  /// The state, as the agent's `State` encodes it (JSON).
  public var data: Data
  /// Starts at 1 with the first save and grows by one with each.
  public var version: Int64

  /// Creates a stored state.
  public init(data: Data, version: Int64) {
    self.data = data
    self.version = version
  }
}

/// Where a runtime keeps the state of ``StatefulAgent``s, one entry per ``AgentId``.
///
/// Writes carry the version the writer last saw (optimistic concurrency): a store refuses a save
/// whose `expectedVersion` is not the stored one with ``AgentRuntimeError/Code/stateConflict``, so
/// an instance that was moved while it still ran never overwrites what its successor saved.
public protocol AgentStateStore: Sendable {
  /// The saved state of `id`, or `nil` when none was ever saved.
  ///
  /// - Throws: ``AgentRuntimeError/Code/stateStoreFailed`` when the store cannot answer.
  func load(_ id: AgentId) async throws -> StoredAgentState?

  /// Saves `data` for `id` if the stored version is `expectedVersion` (0: nothing stored yet).
  ///
  /// - Returns: the new version, `expectedVersion + 1`.
  /// - Throws: ``AgentRuntimeError/Code/stateConflict`` when another version is stored, and
  ///   ``AgentRuntimeError/Code/stateStoreFailed`` when the store cannot answer.
  func save(_ id: AgentId, data: Data, expectedVersion: Int64) async throws -> Int64
}

/// A state store in this process's memory: state survives an agent's move between workers of
/// one runtime, and a test's assertions, but not the process.
public final class InMemoryAgentStateStore: AgentStateStore {
  private let entries = Mutex<[AgentId: StoredAgentState]>([:])

  /// Creates an empty store.
  public init() {}

  public func load(_ id: AgentId) async throws -> StoredAgentState? {
    entries.withLock { $0[id] }
  }

  public func save(_ id: AgentId, data: Data, expectedVersion: Int64) async throws -> Int64 {
    try entries.withLock { entries throws(AgentRuntimeError) in
      let current = entries[id]?.version ?? 0
      guard current == expectedVersion else {
        throw AgentRuntimeError.staleState(id, expected: expectedVersion, stored: current)
      }
      entries[id] = StoredAgentState(data: data, version: current + 1)
      return current + 1
    }
  }
}

extension AgentRuntimeError {
  /// The refusal of a save made from version `expected` when `stored` is the stored one.
  public static func staleState(_ id: AgentId, expected: Int64, stored: Int64) -> AgentRuntimeError {
    AgentRuntimeError(
      code: .stateConflict,
      message: "the state of \(id) was not saved: version \(stored) is stored and this instance last saw \(expected) (it was moved or another instance saved meanwhile)")
  }
}
