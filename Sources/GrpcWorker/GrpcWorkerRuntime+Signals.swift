public import AgentCore
public import Logging
import UnixSignals

/// A worker program's whole `main`: connects to the host, runs `setUp` (register the agents there),
/// serves until the process gets SIGINT or SIGTERM, then shuts down gracefully (in-flight handlers
/// finish first).
///
/// ```swift
/// try await withGrpcWorkerUntilSignal(
///   configuration: .init(host: try HostAddress(parsing: "localhost:50051")), serializers: serializers
/// ) { worker in
///   try await worker.register(AgentType("translator")) { id, _ in Translator(id: id) }
/// }
/// ```
public func withGrpcWorkerUntilSignal(
  configuration: GrpcWorkerRuntime.Configuration,
  serializers: SerializationRegistry,
  logger: Logger = Logger(label: "agents.worker"),
  _ setUp: @Sendable (GrpcWorkerRuntime) async throws -> Void
) async throws {
  let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
  try await withGrpcWorker(configuration: configuration, serializers: serializers, logger: logger) { worker in
    try await setUp(worker)
    for await signal in signals {
      logger.info("stopping", metadata: ["signal": "\(signal)"])
      break
    }
  }
}
