public import Foundation
public import Logging
import OTel
public import ServiceLifecycle
import Tracing

/// OpenTelemetry export for the executables (`runtime-host`, `agentctl`, the example workers and
/// the interop peer), with swift-otel: the libraries only trace through swift-distributed-tracing,
/// and a program that wants export installs it, as these do.
///
/// Off unless the standard variables ask for it: `OTEL_TRACES_EXPORTER=otlp`, or an OTLP endpoint
/// (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`). Then every `OTEL_*`
/// variable swift-otel reads applies: the protocol (`http/protobuf`, `http/json`), the service
/// name (`OTEL_SERVICE_NAME`, default the program's name), the sampler (`OTEL_TRACES_SAMPLER`,
/// `OTEL_TRACES_SAMPLER_ARG`), the batch delay (`OTEL_BSP_SCHEDULE_DELAY`), and so on. Logs and
/// metrics stay with the programs' own systems.
public enum Telemetry {
  /// Whether the environment asks for trace export.
  public static func isRequested(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
    if let exporter = environment["OTEL_TRACES_EXPORTER"] { return exporter != "none" }
    return environment["OTEL_EXPORTER_OTLP_ENDPOINT"] != nil || environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] != nil
  }

  /// For `LoggingSystem.bootstrap(_:metadataProvider:)`: when export is on, every line logged
  /// inside a span (a handler's, say) carries its `trace_id` and `span_id` (and `trace_flags`),
  /// in whatever format the handler writes; nil when export is off.
  public static func loggingMetadataProvider(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Logger.MetadataProvider? {
    isRequested(environment) ? OTel.makeLoggingMetadataProvider() : nil
  }

  /// Installs an OpenTelemetry tracer for the process when the environment asks for one, and
  /// returns the service that exports its spans (run it beside the program's own services, and
  /// shut it down last so that it flushes); nil when export is off.
  ///
  /// - Throws: when the `OTEL_*` variables are invalid.
  public static func bootstrapTracing(serviceName: String) throws -> (any Service)? {
    guard isRequested() else { return nil }
    var configuration = OTel.Configuration.default
    configuration.serviceName = serviceName
    configuration.logs.enabled = false
    configuration.metrics.enabled = false
    let (tracer, service) = try OTel.makeTracingBackend(configuration: configuration)
    InstrumentationSystem.bootstrap(tracer)
    return service
  }
}

/// Runs `body` with trace export when the environment asks for it (see ``Telemetry``): the
/// exporter runs beside `body` and, once `body` returns or throws, flushes what it holds (bounded
/// by its own export timeout) before this returns.
public func withTelemetry<Result: Sendable>(
  serviceName: String, _ body: @Sendable () async throws -> Result
) async throws -> Result {
  guard let service = try Telemetry.bootstrapTracing(serviceName: serviceName) else { return try await body() }
  let group = ServiceGroup(
    configuration: .init(services: [service], logger: Logger(label: "\(serviceName).telemetry")))
  return try await withThrowingTaskGroup(of: Result?.self) { tasks in
    tasks.addTask {
      try await group.run()
      return nil
    }
    do {
      let result = try await body()
      await group.triggerGracefulShutdown()
      try await tasks.waitForAll()
      return result
    } catch {
      await group.triggerGracefulShutdown()
      try? await tasks.waitForAll()
      throw error
    }
  }
}
