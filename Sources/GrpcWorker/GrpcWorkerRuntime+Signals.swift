public import AgentCore
public import Logging
import UnixSignals

/// A worker program's whole `main`: connects to the host, runs `setUp` (register the agents there),
/// serves until the process gets SIGINT or SIGTERM, then shuts down gracefully (in-flight handlers
/// finish first).
///
/// ```swift
/// try await withGrpcWorkerUntilSignal(configuration: try .init(host: "localhost:50051")) { worker in
///   try await worker.register("translator") { id, _ in Translator(id: id) }
/// }
/// ```
public func withGrpcWorkerUntilSignal(
  configuration: GrpcWorkerRuntime.Configuration,
  serializers: SerializationRegistry = SerializationRegistry(),
  logger: Logger? = nil,
  _ setUp: @Sendable (GrpcWorkerRuntime) async throws -> Void
) async throws {
  let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
  let logger = logger ?? configuration.makeLogger()
  try await withGrpcWorker(configuration: configuration, serializers: serializers, logger: logger) { worker in
    try await setUp(worker)
    for await signal in signals {
      logger.info("stopping", metadata: ["signal": "\(signal)"])
      break
    }
  }
}
