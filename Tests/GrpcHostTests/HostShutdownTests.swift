import AgentCore
import AgentTestSupport
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

  @Test("run() is refused while the host runs, and after it stopped")
  func runOnce() async throws {
    let host = try await withTestHost { host, _ in
      let error = await #expect(throws: AgentRuntimeError.self) { try await host.run() }
      #expect(error?.message.contains("already running") == true)
      return host
    }
    let error = await #expect(throws: AgentRuntimeError.self) { try await host.run() }
    #expect(error?.message.contains("create a new AgentHost") == true)
  }

  @Test("a shutdown requested before run() makes run() return at once, serving nothing")
  func shutdownBeforeRun() async throws {
    let host = AgentHost(configuration: .init(address: HostAddress(host: "127.0.0.1", port: 0)), logger: quietLogger)
    host.beginGracefulShutdown()
    let refused = await #expect(throws: AgentRuntimeError.self) { try await host.listeningAddress() }
    #expect(refused?.message.contains("shut down before it ran") == true)
    let error = await #expect(throws: AgentRuntimeError.self) { try await host.run() }
    #expect(error?.message.contains("create a new AgentHost") == true)
    host.beginGracefulShutdown()  // idempotent
  }
}

extension RawWorker {
  /// The next message, or nil when the host closed the stream.
  func nextOrEnd(timeout: Duration) async throws -> Agents_Message? {
    try await inboxNextOrEnd(timeout: timeout)
  }
}
