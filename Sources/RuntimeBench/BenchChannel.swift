import AgentCore
import AgentWire
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import GrpcWorker
import SwiftProtobuf
import Synchronization

/// A raw `agents.AgentRpc` worker connection: the lightest client the generated stubs allow, so the
/// host, not the client, is what the benchmark measures.
struct BenchChannel: Sendable {
  let clientId: String
  let rpc: Agents_AgentRpc.Client<HTTP2ClientTransport.Posix>
  let outbound: BatchQueue<ChannelFrame>
  let inbound: AsyncStream<ChannelFrame>

  /// `client-id`, and `authorization: Bearer $RUNTIME_BENCH_TOKEN` when that is set (to measure a
  /// host with `--auth-file`).
  var metadata: Metadata {
    var metadata: Metadata = [AgentRpcMetadata.clientIdKey: .string(clientId)]
    if let token = Self.token { metadata.addString("Bearer \(token)", forKey: "authorization") }
    return metadata
  }

  static let token = ProcessInfo.processInfo.environment["RUNTIME_BENCH_TOKEN"]

  func send(_ frame: ChannelFrame) { outbound.append(frame) }

  func register(_ type: String) async throws {
    _ = try await rpc.registerAgent(.with { $0.type = type }, metadata: metadata)
  }

  func subscribe(topicType: String, agentType: String) async throws {
    _ = try await rpc.addSubscription(
      .with {
        $0.subscription = .with {
          $0.id = UUID().uuidString
          $0.typeSubscription = .with {
            $0.topicType = topicType
            $0.agentType = agentType
          }
        }
      }, metadata: metadata)
  }

  func subscribe(topicTypePrefix: String, agentType: String) async throws {
    _ = try await rpc.addSubscription(
      .with {
        $0.subscription = .with {
          $0.id = UUID().uuidString
          $0.typePrefixSubscription = .with {
            $0.topicTypePrefix = topicTypePrefix
            $0.agentType = agentType
          }
        }
      }, metadata: metadata)
  }
}

/// A gRPC client connection to the host for the duration of `body`.
func withBenchClient<R: Sendable>(
  _ address: HostAddress,
  _ body: @Sendable (BenchClient) async throws -> R
) async throws -> R {
  // Batched writes and no flush delay: light on CPU and on latency, for any host.
  let transport = try HTTP2ClientTransport.Posix(
    target: address.loopbackAsIPv4.resolvableTarget,
    transportSecurity: .plaintext,
    config: .defaults { $0.connection.flushCoalescing = nil })
  let client = GRPCClient(transport: transport)
  // The client's frames are read, handled and written on its connection's event loop, as a
  // GrpcWorkerRuntime's are.
  return try await withTaskExecutorPreference(EventLoopTaskExecutor()) {
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask { try await client.runConnections() }
      defer { client.beginGracefulShutdown() }
      return try await body(BenchClient(grpc: client, rpc: Agents_AgentRpc.Client(wrapping: client)))
    }
  }
}

/// One gRPC connection: the raw client for frames and the generated stubs for unary calls.
struct BenchClient: Sendable {
  let grpc: GRPCClient<HTTP2ClientTransport.Posix>
  let rpc: Agents_AgentRpc.Client<HTTP2ClientTransport.Posix>
}

/// An open channel for the duration of `body`.
func withBenchChannel<R: Sendable>(
  _ client: BenchClient,
  clientId: String,
  _ body: @Sendable (BenchChannel) async throws -> R
) async throws -> R {
  let outbound = BatchQueue<ChannelFrame>()
  let (inbound, inboundContinuation) = AsyncStream<ChannelFrame>.makeStream()
  let grpc = client.grpc
  let channel = BenchChannel(clientId: clientId, rpc: client.rpc, outbound: outbound, inbound: inbound)
  let acknowledged = OneShot<Void>()
  return try await withThrowingTaskGroup(of: R?.self) { group in
    group.addTask {
      // The channel in frames: events stay bytes, so the client spends little on them.
      let request = StreamingClientRequest<ChannelFrame>(metadata: channel.metadata) { writer in
        while let batch = await outbound.next() { try await writer.write(contentsOf: batch) }
      }
      try? await grpc.bidirectionalStreaming(
        request: request, descriptor: Agents_AgentRpc.Method.OpenChannel.descriptor,
        serializer: ChannelFrameCodec(), deserializer: ChannelFrameCodec(), options: .defaults
      ) { response in
        acknowledged.resolve(.success(()))
        for try await message in response.messages { inboundContinuation.yield(message) }
      }
      inboundContinuation.finish()
      acknowledged.resolve(.success(()))
      return nil
    }
    // runtime-host acknowledges a channel with response headers at once; AutoGen's host sends
    // nothing until it has a message, so wait at most a second for it.
    _ = try? await withTimeout(.seconds(1), "channel acknowledgement") { try await acknowledged.value() }
    let result = try await body(channel)
    outbound.finish()
    group.cancelAll()
    return result
  }
}

struct BenchError: Error, CustomStringConvertible {
  var description: String
}

/// Runs `body`, failing with a clear error after `timeout`.
func withTimeout<R: Sendable>(_ timeout: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> R) async throws -> R {
  try await withDeadline(
    timeout,
    timeoutError: { AgentRuntimeError(code: .deadlineExceeded, message: "\(what) did not finish within \(timeout.secondsDescription)") },
    cancelledError: { AgentRuntimeError(code: .cancelled, message: "\(what) was cancelled") },
    body)
}

/// Linux process memory: resident set size in bytes, from /proc.
func residentBytes(pid: Int32) -> Int? {
  guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
  for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
    let kilobytes = line.split(separator: " ").compactMap { Int($0) }.first
    return kilobytes.map { $0 * 1024 }
  }
  return nil
}

/// The CPU time (user + system) process `pid` has used, in seconds, from /proc (10 ms ticks).
func cpuSeconds(pid: Int32) -> Double? {
  guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
    let afterName = stat.split(separator: ")").last
  else { return nil }
  let fields = afterName.split(separator: " ")
  guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
  return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// The host CPU microseconds per operation that `body` (`count` operations) cost `pid`.
func measuringHostCPU<R>(pid: Int32?, count: Int, _ body: () async throws -> R) async rethrows -> (R, Double?) {
  let before = pid.flatMap(cpuSeconds(pid:))
  let result = try await body()
  guard let before, let after = pid.flatMap(cpuSeconds(pid:)), count > 0 else { return (result, nil) }
  return (result, (after - before) / Double(count) * 1e6)
}

/// Monotonic nanoseconds.
func now() -> UInt64 {
  var time = timespec()
  clock_gettime(CLOCK_MONOTONIC, &time)
  return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}
