import AgentCore
import AgentRuntimeTesting
import AgentTestSupport
import AgentWire
import GrpcHost
import GrpcWorker
import Logging

/// Which runtime a shared test body runs on.
enum RuntimeKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
  /// One in-process runtime (every "runtime" in the list is the same one), round-tripping every
  /// message through the serializers as the testing product does.
  case inProcess
  /// The testing product's host, with one worker per runtime in the list over gRPC's in-process
  /// transport.
  case testHost
  /// A host on loopback and one gRPC worker per runtime in the list.
  case grpc

  var testDescription: String { rawValue }
}

import Testing

/// Runs `body` with `count` runtimes of `kind`: agents registered on different runtimes of the
/// `.grpc` kind live in different workers and talk through the host.
func withRuntimes<R: Sendable>(
  _ kind: RuntimeKind,
  count: Int = 2,
  rpcTimeout: Duration = .seconds(30),
  _ body: @Sendable ([any AgentRuntime]) async throws -> R
) async throws -> R {
  switch kind {
  case .inProcess:
    return try await withTestRuntime(
      configuration: .init(defaultRPCTimeout: rpcTimeout, roundTripsMessages: true), serializers: testSerializers,
      logger: quietLogger
    ) { runtime in
      try await body(Array(repeating: runtime, count: count))
    }
  case .testHost:
    return try await withTestHost(configuration: .init(rpcTimeout: rpcTimeout), logger: quietLogger) { test in
      var configuration = test.workerConfiguration()
      configuration.defaultRPCTimeout = rpcTimeout
      configuration.shutdownGracePeriod = .seconds(1)
      return try await withTestWorkers(test, configuration, count: count, existing: [], body)
    }
  case .grpc:
    return try await withAgentHost(
      configuration: .init(address: HostAddress(host: "127.0.0.1", port: 0), rpcTimeout: rpcTimeout), logger: quietLogger
    ) { host in
      let address = try await host.listeningAddress()
      return try await withWorkers(address, count: count, rpcTimeout: rpcTimeout, existing: [], body)
    }
  }
}

private func withTestWorkers<R: Sendable>(
  _ test: TestHost,
  _ configuration: GrpcWorkerRuntime.Configuration,
  count: Int,
  existing: [any AgentRuntime],
  _ body: @Sendable ([any AgentRuntime]) async throws -> R
) async throws -> R {
  guard existing.count < count else { return try await body(existing) }
  return try await test.withWorker(configuration: configuration, serializers: testSerializers) { worker in
    try await withTestWorkers(test, configuration, count: count, existing: existing + [worker], body)
  }
}

private func withWorkers<R: Sendable>(
  _ address: HostAddress,
  count: Int,
  rpcTimeout: Duration,
  existing: [any AgentRuntime],
  _ body: @Sendable ([any AgentRuntime]) async throws -> R
) async throws -> R {
  guard existing.count < count else { return try await body(existing) }
  return try await withGrpcWorker(
    configuration: .init(host: address, defaultRPCTimeout: rpcTimeout, channelReadyTimeout: .seconds(30), shutdownGracePeriod: .seconds(1)),
    serializers: testSerializers, logger: quietLogger
  ) { worker in
    try await withWorkers(address, count: count, rpcTimeout: rpcTimeout, existing: existing + [worker], body)
  }
}
