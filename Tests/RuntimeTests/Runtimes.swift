import AgentCore
import AgentTestSupport
import AgentWire
import GrpcHost
import GrpcWorker
import Logging

/// Which runtime a shared test body runs on.
enum RuntimeKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
  /// One in-process runtime (every "runtime" in the list is the same one).
  case inProcess
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
    return try await withInProcessRuntime(configuration: .init(defaultRPCTimeout: rpcTimeout), logger: quietLogger) { runtime in
      try await body(Array(repeating: runtime, count: count))
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
