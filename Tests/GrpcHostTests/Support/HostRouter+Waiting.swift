import AgentCore
import AgentRuntimeTesting
@testable import GrpcHost

extension HostRouter {
  /// Waits until `predicate` holds for the routing state, re-checking after every change to
  /// connections, registrations and subscriptions. Returns false after `timeout`.
  func waitUntil(timeout: Duration, _ predicate: @escaping @Sendable (Snapshot) -> Bool) async -> Bool {
    await AgentRuntimeTesting.waitUntil(changes.subscribe(startingWith: ()).map { [self] in snapshot }, within: timeout, predicate)
  }
}
