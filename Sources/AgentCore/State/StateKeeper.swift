import Foundation
import Synchronization

/// Loads and saves one ``StatefulAgent`` instance's state: its version, and its saves one at a
/// time in the order the handlers finished (handlers of one agent may interleave where they
/// suspend, so two may finish close together).
final class StateKeeper: Sendable {
  let id: AgentId
  private let store: any AgentStateStore
  private let agent: any StatefulAgent
  /// The version this instance last loaded or saved; 0 when nothing was stored.
  private let version = Mutex<Int64>(0)
  /// Resolved when the latest save started so far is done.
  private let lastSave = Mutex<OneShot<Void>?>(nil)

  init(id: AgentId, store: any AgentStateStore, agent: any StatefulAgent) {
    self.id = id
    self.store = store
    self.agent = agent
  }

  /// Loads the saved state into the instance, if there is one.
  func activate() async throws(AgentRuntimeError) {
    let stored = try await storeCall("load") { try await self.store.load(self.id) }
    guard let stored else { return }
    do {
      try await agent.restoreState(from: stored.data)
    } catch {
      throw AgentRuntimeError(
        code: .serializationFailed, message: "the saved state of \(id) (version \(stored.version)) does not decode: \(error)",
        cause: error)
    }
    version.withLock { $0 = stored.version }
  }

  /// Saves the instance's current state after the saves started before this one.
  func save() async throws(AgentRuntimeError) {
    let mine = OneShot<Void>()
    let previous = lastSave.withLock { last in
      defer { last = mine }
      return last
    }
    defer { mine.resolve(.success(())) }
    if let previous { _ = try? await previous.value() }
    let data: Data
    do {
      data = try await agent.encodedState()
    } catch {
      throw AgentRuntimeError(code: .serializationFailed, message: "the state of \(id) does not encode: \(error)", cause: error)
    }
    let expected = version.withLock { $0 }
    let saved = try await storeCall("save") { try await self.store.save(self.id, data: data, expectedVersion: expected) }
    version.withLock { $0 = saved }
  }

  private func storeCall<T: Sendable>(_ what: String, _ call: @Sendable () async throws -> T) async throws(AgentRuntimeError) -> T {
    do {
      return try await call()
    } catch let error as AgentRuntimeError {
      throw error
    } catch {
      throw AgentRuntimeError(
        code: .stateStoreFailed, message: "could not \(what) the state of \(id): \(error)", cause: error)
    }
  }
}
