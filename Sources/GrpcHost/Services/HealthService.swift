import AgentCore
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

  private let serving = Atomic<Bool>(true)
  private let changes = Broadcaster<Status>()

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
}
