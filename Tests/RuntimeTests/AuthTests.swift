import AgentCore
import AgentTestSupport
import AgentWire
import GrpcHost
import GrpcWorker
import Testing

@Suite("Worker: bearer token", .timeLimit(.minutes(1)))
struct AuthTests {
  func withTokenHost<R: Sendable>(_ body: @Sendable (HostAddress) async throws -> R) async throws -> R {
    try await withAgentHost(
      configuration: .init(address: HostAddress(host: "127.0.0.1", port: 0), authToken: "s3cret"), logger: quietLogger
    ) { host in
      try await body(try await host.listeningAddress())
    }
  }

  @Test("a configuration from a host:port string; a bad one names itself")
  func configurationFromString() throws {
    let configuration = try GrpcWorkerRuntime.Configuration(host: "[::1]:50051")
    #expect(configuration.host == HostAddress(host: "::1", port: 50051))
    let error = #expect(throws: AgentRuntimeError.self) { try GrpcWorkerRuntime.Configuration(host: "no-port") }
    #expect(error?.message.contains("'no-port'") == true)
  }

  @Test("a worker with the host's token works")
  func rightToken() async throws {
    try await withTokenHost { address in
      var configuration = GrpcWorkerRuntime.Configuration(host: address, shutdownGracePeriod: .seconds(1))
      configuration.authToken = "s3cret"
      try await withGrpcWorker(configuration: configuration, serializers: testSerializers, logger: quietLogger) { worker in
        try await worker.register(AgentType("counter")) { id, _ in CounterAgent(id: id) }
        #expect(try await worker.send(Ping(hops: 0), to: try AgentId(type: "counter", key: "k"), returning: Ping.self).hops == 1)
      }
    }
  }

  @Test("a worker with a wrong token is refused with unauthenticated")
  func wrongToken() async throws {
    try await withTokenHost { address in
      var configuration = GrpcWorkerRuntime.Configuration(
        host: address, channelReadyTimeout: .milliseconds(200), shutdownGracePeriod: .seconds(1))
      configuration.authToken = "wrong"
      let worker = GrpcWorkerRuntime(configuration: configuration, serializers: testSerializers, logger: quietLogger)
      try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try? await worker.run() }
        let error = await #expect(throws: AgentRuntimeError.self) {
          try await worker.register(AgentType("counter")) { id, _ in CounterAgent(id: id) }
        }
        #expect(error?.code == .unauthenticated, "\(String(describing: error))")
        worker.shutdown()
        try await group.waitForAll()
      }
    }
  }
}
