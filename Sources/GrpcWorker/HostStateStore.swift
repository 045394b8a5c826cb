import AgentCore
import Foundation
import Synchronization

/// The host's state store, reached over the worker's current connection: loads and saves of the
/// worker's `StatefulAgent`s go to the host's `agents.state.v1.AgentStateStore` service.
final class HostStateStore: AgentStateStore {
  /// The worker, once it is made (it owns this store, so the reference is weak).
  private let worker = Mutex(WeakWorker())
  /// How long a load or save waits for a connection.
  private let timeout: Duration

  struct WeakWorker {
    weak var runtime: GrpcWorkerRuntime?
  }

  init(timeout: Duration) {
    self.timeout = timeout
  }

  /// Makes calls over `runtime`'s connection.
  func attach(to runtime: GrpcWorkerRuntime) {
    worker.withLock { $0.runtime = runtime }
  }

  func load(_ id: AgentId) async throws -> StoredAgentState? {
    try await client().loadState(id)
  }

  func save(_ id: AgentId, data: Data, expectedVersion: Int64) async throws -> Int64 {
    try await client().saveState(id, data: data, expectedVersion: expectedVersion)
  }

  private func client() async throws -> HostClient {
    guard let runtime = worker.withLock({ $0.runtime }) else {
      throw AgentRuntimeError(code: .unavailable, message: "the worker has stopped")
    }
    return try await runtime.awaitConnection(within: timeout)
  }
}
