import AgentCore
import AgentWire
import GRPCCore
import GRPCNIOTransportHTTP2
import GrpcHost
import SwiftProtobuf
import Testing

/// Checks the host's health over grpc.health.v1, as a probe would.
func healthStatus(_ address: HostAddress, service: String = "") async throws -> Grpc_Health_V1_HealthCheckResponse.ServingStatus {
  try await withGRPCClient(address) { client in
    try await Grpc_Health_V1_Health.Client(wrapping: client).check(.with { $0.service = service }).status
  }
}

@Suite("Host: grpc.health.v1", .timeLimit(.minutes(1)))
struct HostHealthTests {
  @Test("Check answers SERVING for the server and agents.AgentRpc, NOT_FOUND for others; no token needed")
  func check() async throws {
    try await withTestHost(authToken: "s3cret") { _, address throws in
      let server = try await healthStatus(address)
      let agentRpc = try await healthStatus(address, service: "agents.AgentRpc")
      #expect(server == .serving && agentRpc == .serving)
      let error = await #expect(throws: RPCError.self) { try await healthStatus(address, service: "no.such.Service") }
      #expect(error?.code == .notFound)
    }
  }

  @Test("Watch sends SERVING, then NOT_SERVING when the host shuts down, and ends")
  func watch() async throws {
    try await withTestHost { host, address in
      let statuses = try await withGRPCClient(address) { client in
        try await Grpc_Health_V1_Health.Client(wrapping: client).watch(.with { $0.service = "agents.AgentRpc" }) { response in
          var seen: [Grpc_Health_V1_HealthCheckResponse.ServingStatus] = []
          for try await message in response.messages {
            seen.append(message.status)
            if seen.count == 1 { host.beginGracefulShutdown() }
          }
          return seen
        }
      }
      #expect(statuses == [.serving, .notServing])
    }
  }
}
