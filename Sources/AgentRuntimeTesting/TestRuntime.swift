public import AgentCore
public import Logging

/// Runs an `InProcessRuntime` for the duration of `body`, with every message,
/// response and streamed chunk round-tripped through the serializers (see
/// `InProcessRuntime.Configuration.roundTripsMessages`): a message type with no
/// serializer, or one that does not survive encoding, fails here as it would between processes.
///
/// `serializers` holds the types to serialize besides those the registered agents' handlers take
/// and return (derived at registration).
public func withTestRuntime<Result: Sendable>(
  configuration: InProcessRuntime.Configuration = InProcessRuntime.Configuration(
    defaultRPCTimeout: .seconds(10), shutdownGracePeriod: .seconds(5), roundTripsMessages: true),
  serializers: SerializationRegistry = SerializationRegistry(),
  logger: Logger = testLogger,
  _ body: (InProcessRuntime) async throws -> Result
) async throws -> Result {
  try await withInProcessRuntime(configuration: configuration, serializers: serializers, logger: logger, body)
}

/// The testing helpers' default logger: warnings and errors only, so a passing test prints
/// nothing of the runtime's own.
public let testLogger: Logger = {
  var logger = Logger(label: "agents.test")
  logger.logLevel = .warning
  return logger
}()
