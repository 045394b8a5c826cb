import AgentCore
import AgentWire
import Foundation
import GRPCCore
@testable import GrpcHost
import SwiftProtobuf
import Testing

@Suite("Host: bearer token", .timeLimit(.minutes(1)))
struct HostAuthTests {
  @Test("with a token configured, calls without it or with a wrong one fail UNAUTHENTICATED")
  func refusesMissingAndWrongTokens() async throws {
    try await withTestHost(authToken: "s3cret") { _, address in
      try await withClient(address) { rpc in
        let request = Agents_RegisterAgentTypeRequest.with { $0.type = "t" }
        let missing = await #expect(throws: RPCError.self) {
          try await rpc.registerAgent(request, metadata: ["client-id": "c1"])
        }
        #expect(missing?.code == .unauthenticated)
        #expect(missing?.message.contains("authorization") == true)

        let wrong = await #expect(throws: RPCError.self) {
          try await rpc.registerAgent(request, metadata: ["client-id": "c1", "authorization": "Bearer nope"])
        }
        #expect(wrong?.code == .unauthenticated)

        let stream = await #expect(throws: RPCError.self) {
          try await rpc.openChannel(metadata: ["client-id": "c2"]) { _ in } onResponse: { response in
            for try await _ in response.messages {}
          }
        }
        #expect(stream?.code == .unauthenticated)

        _ = try await rpc.registerAgent(request, metadata: ["client-id": "c1", "authorization": "Bearer s3cret"])
      }
    }
  }
}
