import AgentCore
import AgentWire
import GRPCCore
import SwiftProtobuf
import Synchronization

/// The standard `grpc.health.v1.Health` service: SERVING for the whole server (`""`) and for
/// `agents.AgentRpc` while the host runs, NOT_SERVING once it is shutting down. On a node of a
/// cluster, `agents.cluster` is SERVING while the node is a healthy member, NOT_SERVING while it
/// has a problem (the directory unreachable, fenced, joining): the node still routes meanwhile.
///
/// It is not behind the bearer-token check, so that probes (Kubernetes, load balancers,
/// `grpc_health_probe`) that cannot send headers work; it reveals only the serving status.
final class HealthService: Grpc_Health_V1_Health.SimpleServiceProtocol {
  typealias Status = Grpc_Health_V1_HealthCheckResponse.ServingStatus

  static let services: Set<String> = ["", Agents_AgentRpc.descriptor.fullyQualifiedService]
  static let clusterService = "agents.cluster"

  /// A node's membership: its problem now, and its changes.
  struct ClusterHealth: Sendable {
    var problem: @Sendable () -> String?
    var changes: @Sendable () -> AsyncStream<Void>
  }

  private let serving = Atomic<Bool>(true)
  private let changes = Broadcaster<Status>()
  private let cluster = Mutex<ClusterHealth?>(nil)

  /// Makes the service report the node's cluster membership as `agents.cluster`.
  func report(_ health: ClusterHealth) {
    cluster.withLock { $0 = health }
  }

  private func clusterStatus(_ health: ClusterHealth) -> Status {
    serving.load(ordering: .acquiring) && health.problem() == nil ? .serving : .notServing
  }

  /// Reports NOT_SERVING from now on and ends every watch.
  func markNotServing() {
    serving.store(false, ordering: .releasing)
    changes.finish(with: .notServing)
  }

  private var status: Status { serving.load(ordering: .acquiring) ? .serving : .notServing }

  func check(
    request: Grpc_Health_V1_HealthCheckRequest,
    context: ServerContext
  ) async throws -> Grpc_Health_V1_HealthCheckResponse {
    if request.service == Self.clusterService, let health = cluster.withLock({ $0 }) {
      return .with { $0.status = clusterStatus(health) }
    }
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
    if request.service == Self.clusterService, let health = cluster.withLock({ $0 }) {
      return try await watchCluster(health, response: response)
    }
    let known = Self.services.contains(request.service)
    // The status now, then NOT_SERVING when the host stops (the stream then ends), or until the
    // caller goes away (cancellation ends the loop).
    var last: Status?
    for await update in changes.subscribe(startingWith: status) {
      let shown = known ? update : .serviceUnknown
      if shown == last { continue }
      last = shown
      try await response.write(.with { $0.status = shown })
    }
  }

  /// The node's membership status now and at each change, until the host stops (NOT_SERVING, then
  /// the stream ends) or the caller goes away.
  private func watchCluster(_ health: ClusterHealth, response: RPCWriter<Grpc_Health_V1_HealthCheckResponse>) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask {
        for await _ in self.changes.subscribe(startingWith: self.status) where !self.serving.load(ordering: .acquiring) { return }
      }
      group.addTask {
        var last: Status?
        for await _ in health.changes() {
          let status = self.clusterStatus(health)
          if status == last { continue }
          last = status
          try await response.write(.with { $0.status = status })
        }
      }
      try await group.next()
      group.cancelAll()
    }
    try await response.write(.with { $0.status = .notServing })
  }
}
