/// Runs `service` (its `run`) for the duration of `body`, then shuts it down and waits for `run` to
/// return. The scoped helpers (`withInProcessRuntime`, `withGrpcWorker`, `withAgentHost`) use it.
///
/// - Parameters:
///   - ready: awaited before `body`, e.g. until a host listens or a worker is connected.
///   - shutdown: begins a graceful shutdown; called on success and on error.
package func withRunningService<Service: Sendable, Result: Sendable>(
  _ service: Service,
  run: @escaping @Sendable (Service) async throws -> Void,
  ready: (Service) async throws -> Void = { _ in },
  shutdown: (Service) -> Void,
  _ body: (Service) async throws -> Result
) async throws -> Result {
  try await withThrowingTaskGroup(of: Void.self) { group in
    group.addTask { try await run(service) }
    do {
      try await ready(service)
      let result = try await body(service)
      shutdown(service)
      try await group.waitForAll()
      return result
    } catch {
      shutdown(service)
      try? await group.waitForAll()
      throw error
    }
  }
}
