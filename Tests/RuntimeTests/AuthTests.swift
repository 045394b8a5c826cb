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

  @Test("an identity's worker: a forbidden publish throws permission-denied at the worker, allowed ones go out; revoking its token stops the worker")
  func identityPermissions() async throws {
    let patterns = { (texts: [String]) in texts.map { try! NamePattern($0) } }
    let news = Identity(
      name: "news-worker", permissions: Permissions(serve: patterns(["counter"]), publish: patterns(["news.*"]), call: patterns(["counter"])))
    var hostConfiguration = AgentHost.Configuration(address: HostAddress(host: "127.0.0.1", port: 0))
    hostConfiguration.credentials = Credentials([("news-token", news)])
    try await withAgentHost(configuration: hostConfiguration, logger: quietLogger) { host in
      var configuration = GrpcWorkerRuntime.Configuration(host: try await host.listeningAddress(), shutdownGracePeriod: .seconds(1))
      configuration.authToken = "news-token"
      let worker = GrpcWorkerRuntime(configuration: configuration, serializers: testSerializers, logger: quietLogger)
      try await withThrowingTaskGroup(of: AgentRuntimeError?.self) { group in
        group.addTask {
          do {
            try await worker.run()
            return nil
          } catch {
            return error as? AgentRuntimeError
          }
        }
        try await worker.register(AgentType("counter")) { id, _ in CounterAgent(id: id) }
        try await worker.publish(Ping(hops: 0), to: TopicId(type: "news.sports", source: "s"))
        let refused = await #expect(throws: AgentRuntimeError.self) {
          try await worker.publish(Ping(hops: 0), to: TopicId(type: "payments.events", source: "s"))
        }
        #expect(refused?.code == .permissionDenied)
        #expect(refused?.message.hasPrefix("identity 'news-worker' may not publish to topic type 'payments.events'") == true)
        // Revoked: the host ends the channel with UNAUTHENTICATED, and the worker stops instead of retrying.
        try await host.replaceCredentials(Credentials([]))
        let stopped = try await group.next()!
        #expect(stopped?.code == .unauthenticated, "\(String(describing: stopped))")
        #expect(stopped?.message.contains("the credentials of identity 'news-worker' were revoked") == true, "\(String(describing: stopped))")
      }
    }
  }
}
