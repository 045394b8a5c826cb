import AgentWire
import GRPCCore
import SwiftProtobuf
import Synchronization

/// The standard `grpc.health.v1.Health` service: SERVING for the whole server (`""`) and for
/// `agents.AgentRpc` while the host runs, NOT_SERVING once it is shutting down.
///
/// It is not behind the bearer-token check, so that probes (Kubernetes, load balancers,
/// `grpc_health_probe`) that cannot send headers work; it reveals only the serving status.
final class HealthService: Grpc_Health_V1_Health.SimpleServiceProtocol {
  typealias Status = Grpc_Health_V1_HealthCheckResponse.ServingStatus

  static let services: Set<String> = ["", Agents_AgentRpc.descriptor.fullyQualifiedService]

  private struct State {
    var serving = true
    var watchers: [Int: AsyncStream<Status>.Continuation] = [:]
    var nextWatcher = 0
  }

  private let state = Mutex(State())

  /// Reports NOT_SERVING from now on and ends every watch.
  func markNotServing() {
    let watchers = state.withLock { state in
      state.serving = false
      defer { state.watchers = [:] }
      return Array(state.watchers.values)
    }
    for watcher in watchers {
      watcher.yield(.notServing)
      watcher.finish()
    }
  }

  private var status: Status { state.withLock { $0.serving ? .serving : .notServing } }

  func check(
    request: Grpc_Health_V1_HealthCheckRequest,
    context: ServerContext
  ) async throws -> Grpc_Health_V1_HealthCheckResponse {
    guard Self.services.contains(request.service) else {
      throw RPCError(code: .notFound, message: "unknown service '\(request.service)'")
    }
    return .with { $0.status = status }
  }

  func watch(
    request: Grpc_Health_V1_HealthCheckRequest,
    response: RPCWriter<Grpc_Health_V1_HealthCheckResponse>,
    context: ServerContext
  ) async throws {
    let (updates, continuation) = AsyncStream.makeStream(of: Status.self)
    let known = Self.services.contains(request.service)
    let id: Int? = state.withLock { state in
      guard state.serving else { return nil }
      defer { state.nextWatcher += 1 }
      state.watchers[state.nextWatcher] = continuation
      return state.nextWatcher
    }
    defer { if let id { _ = state.withLock { $0.watchers.removeValue(forKey: id) } } }
    guard id != nil else {
      try await response.write(.with { $0.status = known ? .notServing : .serviceUnknown })
      return
    }
    try await response.write(.with { $0.status = known ? .serving : .serviceUnknown })
    // Until the host stops (the stream ends) or the caller goes away (cancellation ends the loop).
    for await update in updates where known {
      try await response.write(.with { $0.status = update })
    }
  }
}
