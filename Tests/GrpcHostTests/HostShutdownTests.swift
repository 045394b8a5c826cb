import AgentCore
import AgentWire
import Foundation
import GRPCCore
@testable import GrpcHost
import SwiftProtobuf
import Testing

@Suite("Host: graceful shutdown", .timeLimit(.minutes(1)))
struct HostShutdownTests {
  @Test("graceful shutdown answers pending RPCs with an error and closes the streams")
  func shutdownAnswersPending() async throws {
    try await withTestHost { host, address in
      try await withRawWorker(address) { callee in
        try await callee.register("svc")
        try await withRawWorker(address) { caller in
          caller.send(.request(id: "pending", target: try AgentId(type: "svc", key: "k")))
          _ = try #require(try await callee.next().requestValue)
          host.beginGracefulShutdown()
          let response = try #require(try await caller.next(timeout: .seconds(5)).responseValue)
          #expect(response.requestID == "pending")
          #expect(response.error.contains("the host is shutting down"))
          // Then the streams end.
          #expect(try await caller.nextOrEnd(timeout: .seconds(5)) == nil)
          #expect(try await callee.nextOrEnd(timeout: .seconds(5)) == nil)
        }
      }
    }
  }
}

extension RawWorker {
  /// The next message, or nil when the host closed the stream.
  func nextOrEnd(timeout: Duration) async throws -> Agents_Message? {
    try await inboxNextOrEnd(timeout: timeout)
  }
}
