import Foundation
import Synchronization

/// Loads and saves one ``StatefulAgent`` instance's state: its version, and its saves one at a
/// time in the order the handlers finished (handlers of one agent may interleave where they
/// suspend, so two may finish close together). After a handler that threw, or a save that failed,
/// it puts back the state last saved (as Dapr's actors discard a failed call's changes), so what
/// the instance holds is always what the store holds plus the changes of running handlers.
final class StateKeeper: Sendable {
  let id: AgentId
  /// Which activation of the agent this keeper serves (its slot in the runtime).
  let instance: ObjectIdentifier
  private let settings: StateSettings
  private let agent: any StatefulAgent
  /// The version this instance last loaded or saved; 0 when nothing was stored.
  private let version = Mutex<Int64>(0)
  /// The state as last loaded or saved (the initial state's encoding when nothing was stored).
  private let saved = Mutex<Data?>(nil)
  /// Resolved when the latest save or roll-back started so far is done.
  private let lastSave = Mutex<OneShot<Void>?>(nil)

  init(id: AgentId, settings: StateSettings, agent: any StatefulAgent, instance: ObjectIdentifier) {
    self.id = id
    self.instance = instance
    self.settings = settings
    self.agent = agent
  }

  /// Loads the saved state into the instance, if there is one.
  ///
  /// - Throws: the store's error, or ``AgentRuntimeError/Code/stateStoreFailed`` naming the agent
  ///   when the saved state does not decode into the agent's `State` (it is left as it is, never
  ///   reset).
  func activate() async throws(AgentRuntimeError) {
    let (id, store) = (self.id, settings.store)
    let stored = try await settings.call("load", of: id) { try await store.load(id) }
    guard let stored else {
      let initial = try? await agent.encodedState()
      saved.withLock { $0 = initial }
      return
    }
    do {
      try await agent.restoreState(from: stored.data)
    } catch {
      throw AgentRuntimeError(
        code: .stateStoreFailed,
        message: "the saved state of \(id) (version \(stored.version), \(stored.data.count) bytes) does not decode into \(type(of: agent)).State: \(error)",
        cause: error)
    }
    version.withLock { $0 = stored.version }
    saved.withLock { $0 = stored.data }
  }

  /// Saves the instance's current state after the saves started before this one.
  func save() async throws(AgentRuntimeError) {
    try await inTurn { () async throws(AgentRuntimeError) in
      let data: Data
      do {
        data = try await self.agent.encodedState()
      } catch {
        throw AgentRuntimeError(code: .serializationFailed, message: "the state of \(self.id) does not encode: \(error)", cause: error)
      }
      try self.settings.checkSize(data.count, of: self.id)
      let (id, store) = (self.id, self.settings.store)
      let expected = self.version.withLock { $0 }
      let version = try await self.settings.call("save", of: id) { try await store.save(id, data: data, expectedVersion: expected) }
      self.version.withLock { $0 = version }
      self.saved.withLock { $0 = data }
    }
  }

  /// Puts back the state last loaded or saved, after the saves started before.
  func rollBack() async {
    try? await inTurn { () async throws(AgentRuntimeError) in
      guard let data = self.saved.withLock({ $0 }) else { return }
      try? await self.agent.restoreState(from: data)
    }
  }

  /// Runs `body` once the saves and roll-backs started before it are done.
  private func inTurn(_ body: () async throws(AgentRuntimeError) -> Void) async throws(AgentRuntimeError) {
    let mine = OneShot<Void>()
    let previous = lastSave.withLock { last in
      defer { last = mine }
      return last
    }
    defer { mine.resolve(.success(())) }
    if let previous { _ = try? await previous.value() }
    try await body()
  }
}
