public import AgentCore
import GRPCCore
public import GrpcHost
public import GrpcWorker
public import Logging

/// A host running in this process, reached by workers over gRPC's in-process transport: the real
/// host and the real worker runtime, speaking the real `agents.AgentRpc` protocol, with no socket
/// or port. Get one from ``withTestHost(configuration:logger:_:)``.
public struct TestHost: Sendable {
  /// The host itself: its `AgentHost.status` and metrics are there to assert on.
  public let host: AgentHost
  let hub: InProcessHub
  let logger: Logger

  /// A worker configuration that reaches this host in process; adjust it and pass it to
  /// ``withWorker(configuration:serializers:_:)``.
  public func workerConfiguration() -> GrpcWorkerRuntime.Configuration {
    var configuration = GrpcWorkerRuntime.Configuration(
      host: HostAddress(host: "in-process", port: 1), defaultRPCTimeout: .seconds(10))
    configuration.transport = .custom { [hub] in hub.makeClientTransport() }
    configuration.shutdownGracePeriod = .seconds(5)
    return configuration
  }

  /// Runs a worker connected to this host for the duration of `body` (connected and registered
  /// before `body` starts), then shuts it down gracefully.
  ///
  /// `configuration` defaults to ``workerConfiguration()``; a configuration of your own must keep
  /// its transport (start from ``workerConfiguration()``). `serializers` holds the types to
  /// serialize besides those of the agents registered on the worker.
  public func withWorker<Result: Sendable>(
    configuration: GrpcWorkerRuntime.Configuration? = nil,
    serializers: SerializationRegistry = SerializationRegistry(),
    _ body: @Sendable (GrpcWorkerRuntime) async throws -> Result
  ) async throws -> Result {
    try await withGrpcWorker(
      configuration: configuration ?? workerConfiguration(), serializers: serializers, logger: logger, body)
  }

  /// Waits until `predicate` holds for the host's status, re-checking at each change to its
  /// workers, registrations and subscriptions.
  ///
  /// - Throws: `AgentRuntimeError/Code/deadlineExceeded` when it does not hold within `timeout`.
  public func waitUntil(
    within timeout: Duration = .seconds(10),
    _ predicate: @escaping @Sendable (AgentHost.Status) -> Bool
  ) async throws {
    guard await AgentRuntimeTesting.waitUntil(host.statusUpdates(), within: timeout, predicate) else {
      throw AgentRuntimeError(
        code: .deadlineExceeded,
        message: "the host's status did not reach the expected state within \(timeout); it is \(host.status)")
    }
  }
}

/// Runs an `AgentHost` in this process for the duration of `body`, with workers
/// reaching it over gRPC's in-process transport (no socket, no port), then shuts it down.
///
/// ```swift
/// try await withTestHost { test in
///   try await test.withWorker { worker in
///     try await worker.register("translator") { id, _ in Translator(id: id) }
///     let reply = try await worker.send(
///       TranslateRequest(text: "hello", to: "fr"), to: "translator/default", returning: TranslateReply.self)
///   }
/// }
/// ```
///
/// The host's `address` is not used; set `AgentHost.Configuration.httpAddress` to
/// also serve the HTTP gateway on a loopback port.
public func withTestHost<Result: Sendable>(
  configuration: AgentHost.Configuration = AgentHost.Configuration(rpcTimeout: .seconds(10)),
  logger: Logger = testLogger,
  _ body: @Sendable (TestHost) async throws -> Result
) async throws -> Result {
  let hub = InProcessHub()
  return try await withRunningService(
    AgentHost(configuration: configuration, logger: logger),
    run: { try await $0.run(over: hub) },
    shutdown: { $0.beginGracefulShutdown() },
    { host in try await body(TestHost(host: host, hub: hub, logger: logger)) }
  )
}
