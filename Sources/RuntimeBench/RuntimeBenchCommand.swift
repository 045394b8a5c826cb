import AgentCore
import AgentTelemetry
import AgentWire
import ArgumentParser
import Foundation

/// `runtime-bench`: benchmarks and load checks of a host.
///
///     swift run -c release runtime-bench                      # throughput (the default): starts runtime-host itself
///     swift run -c release runtime-bench --host 127.0.0.1:50051 --host-pid 1234
///     swift run -c release runtime-bench gateway                # HTTP invoke and SSE fan-out vs worker RPC and publish
///     swift run -c release runtime-bench scale                  # publish and RPC cost with 0, 1,000 and 10,000 workers
///     swift run -c release runtime-bench state --postgres URL   # stateful vs stateless agents: memory, SQLite, PostgreSQL
///     swift run -c release runtime-bench cluster --postgres URL # single host vs same-node vs cross-node, new placements/s
///     swift run -c release runtime-bench load --workers 8 --messages 2000
///     swift run -c release runtime-bench soak --duration 600
///     swift run -c release runtime-bench reconnect --workers 8
@main
struct RuntimeBenchCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "runtime-bench",
    abstract: "Benchmarks and load checks for an agents.AgentRpc host.",
    subcommands: [Throughput.self, GatewayBench.self, ScaleBench.self, StateBench.self, ConsoleBench.self, ClusterBench.self, Load.self, Soak.self, Reconnect.self],
    defaultSubcommand: Throughput.self)
}

/// Publish throughput, RPC latency and memory, measured with light raw gRPC clients. Prints a
/// table and, with --json, writes the figures as JSON.
struct Throughput: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Publish throughput, RPC latency and memory of a host (light raw gRPC clients).")

  @OptionGroup var target: BenchHostOptions
  @Option(help: "A label for the host in the output.")
  var label: String?
  @Option(help: "Messages in the publish throughput run.")
  var messages: Int = 20_000
  @Option(help: "RPCs per caller at 1 caller.")
  var rpcCalls: Int = 2_000
  @Option(help: "RPCs per caller at 16 callers.")
  var rpcCallsPerCaller16: Int = 500
  @Option(help: "Idle workers to connect for the memory figure (0 to skip).")
  var idleWorkers: Int = 1_000
  @Option(help: "Idle workers' channels per gRPC connection.")
  var channelsPerConnection: Int = 20
  @Option(help: "Seconds allowed for connecting the idle workers.")
  var idleTimeout: Int = 120
  @Option(help: "Write the results as JSON to this file.")
  var json: String?
  @Flag(help: "A few-second smoke run with small numbers.")
  var quick = false

  struct Report: Codable {
    var label: String
    var machine: String
    var publish: PublishResult
    var rpc1: RPCResult
    var rpc16: RPCResult
    var memory: MemoryResult
    /// Host CPU per message and per call, including the setup of each workload (a small share).
    var hostCPUMicroseconds: HostCPU?
  }

  struct HostCPU: Codable {
    var perPublish: Double?
    var perCall1: Double?
    var perCall16: Double?
  }

  func run() async throws {
    let messages = quick ? 2_000 : self.messages
    let rpcCalls = quick ? 200 : self.rpcCalls
    let rpc16 = quick ? 50 : rpcCallsPerCaller16
    let idleWorkers = quick ? 100 : self.idleWorkers

    let label = self.label ?? target.host ?? "runtime-host"
    // OTEL_* in the environment traces the bench's workers too (tracing's cost, full sampling).
    try await withTelemetry(serviceName: "runtime-bench") {
    try await withBenchHost(target) { address, pid in
      let idle = pid.flatMap(residentBytes(pid:))
      log("\(label) at \(address): publish \(messages) messages")
      let (publish, publishCPU) = try await measuringHostCPU(pid: pid, count: messages) {
        try await withTimeout(.seconds(300), "publish") {
          try await publishThroughput(address: address, hostPid: pid, count: messages)
        }
      }
      log("rpc, 1 caller x \(rpcCalls)")
      let (one, oneCPU) = try await measuringHostCPU(pid: pid, count: rpcCalls) {
        try await withTimeout(.seconds(300), "rpc x1") {
          try await rpcLatency(address: address, callers: 1, callsPerCaller: rpcCalls)
        }
      }
      log("rpc, 16 callers x \(rpc16)")
      let (sixteen, sixteenCPU) = try await measuringHostCPU(pid: pid, count: 16 * rpc16) {
        try await withTimeout(.seconds(300), "rpc x16") {
          try await rpcLatency(address: address, callers: 16, callsPerCaller: rpc16)
        }
      }
      var idleRSS: Int?
      var idleError: String?
      if idleWorkers > 0 {
        log("\(idleWorkers) idle workers, \(channelsPerConnection) per connection")
        let perConnection = channelsPerConnection
        do {
          idleRSS = try await withTimeout(.seconds(idleTimeout), "connecting \(idleWorkers) idle workers") {
            try await idleWorkersMemory(address: address, hostPid: pid, workers: idleWorkers, perConnection: perConnection)
          }
        } catch {
          idleError = "\(error)"
          log("idle workers failed: \(error)")
        }
      }
      let report = Report(
        label: label, machine: machineDescription(), publish: publish, rpc1: one, rpc16: sixteen,
        memory: MemoryResult(
          idleRSSBytes: idle, idleWorkers: idleWorkers, idleWorkersRSSBytes: idleRSS, idleWorkersError: idleError),
        hostCPUMicroseconds: HostCPU(perPublish: publishCPU, perCall1: oneCPU, perCall16: sixteenCPU))
      print(table(report))
      if let json {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(report).write(to: URL(fileURLWithPath: json))
      }
      guard publish.missing == 0, publish.duplicates == 0 else {
        throw BenchError(description: "publish delivery was not exactly once: \(publish.missing) missing, \(publish.duplicates) duplicated")
      }
      guard one.errors == 0, sixteen.errors == 0 else {
        throw BenchError(description: "RPC errors: \(one.errors + sixteen.errors)")
      }
    }
    }
  }

  func table(_ report: Report) -> String {
    let rows: [(String, String)] = [
      ("host", report.label),
      ("machine", report.machine),
      ("publish: messages/s (first send to last receipt)", String(format: "%.0f", report.publish.messagesPerSecond)),
      ("publish: delivered / duplicated / missing", "\(report.publish.received) / \(report.publish.duplicates) / \(report.publish.missing)"),
      ("rpc, 1 caller: calls/s", String(format: "%.0f", report.rpc1.callsPerSecond)),
      ("rpc, 1 caller: p50 / p99 latency", String(format: "%.0f µs / %.0f µs", report.rpc1.p50Microseconds, report.rpc1.p99Microseconds)),
      ("rpc, 16 callers: calls/s", String(format: "%.0f", report.rpc16.callsPerSecond)),
      ("rpc, 16 callers: p50 / p99 latency", String(format: "%.0f µs / %.0f µs", report.rpc16.p50Microseconds, report.rpc16.p99Microseconds)),
      ("host CPU per publish / per call at 1 / at 16 callers", [
        report.hostCPUMicroseconds?.perPublish, report.hostCPUMicroseconds?.perCall1, report.hostCPUMicroseconds?.perCall16,
      ].map { $0.map { String(format: "%.0f µs", $0) } ?? "n/a" }.joined(separator: " / ")),
      ("host RSS: idle", megabytes(report.memory.idleRSSBytes)),
      ("host RSS: peak under publish load", megabytes(report.publish.hostPeakRSSBytes)),
      ("host RSS: \(report.memory.idleWorkers) idle workers connected",
       report.memory.idleWorkersError.map { "n/a: \($0)" } ?? megabytes(report.memory.idleWorkersRSSBytes)),
    ]
    let width = rows.map(\.0.count).max() ?? 0
    return rows.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(separator: "\n")
  }
}

func log(_ text: String) {
  FileHandle.standardError.write(Data("runtime-bench: \(text)\n".utf8))
}

func machineDescription() -> String {
  let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
    .split(separator: "\n").first { $0.hasPrefix("model name") }?
    .split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
  return "\(ProcessInfo.processInfo.activeProcessorCount) cores, \(cpu), \(ProcessInfo.processInfo.physicalMemory / 1_073_741_824) GiB"
}

/// Which host a benchmark measures: one given on the command line, or a runtime-host it starts.
struct BenchHostOptions: ParsableArguments {
  @Option(help: "Measure this host (HOST:PORT) instead of starting runtime-host.")
  var host: String?
  @Option(help: "The pid of the host given with --host, for its CPU and memory figures.")
  var hostPid: Int32?
}

/// Runs `body` against the host the options name (its pid gives the CPU and memory figures), or,
/// without `--host`, against a runtime-host started for it and stopped afterwards.
func withBenchHost<R>(
  _ options: BenchHostOptions, _ body: (HostAddress, Int32?) async throws -> R
) async throws -> R {
  if let host = options.host { return try await body(try HostAddress(parsing: host), options.hostPid) }
  let process = try await HostProcess.start()
  let result: R
  do {
    result = try await body(process.address, process.pid)
  } catch {
    try? await process.stop()
    throw error
  }
  try await process.stop()
  return result
}

/// runtime-host started from the same build folder, on a free loopback port.
struct HostProcess: Sendable {
  /// The host's process id (Foundation keeps the running `Process` alive until it exits).
  let pid: Int32
  var address: HostAddress
  /// Resolved with the exit status when the host process ends.
  var exited: OneShot<Int32>

  /// With `http`, the host also serves its HTTP gateway on a free port (``http``).
  var http: HostAddress?

  static func start(port: Int = 0, http: Bool = false, arguments extra: [String] = []) async throws -> HostProcess {
    let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("runtime-host")
    let process = Process()
    process.executableURL = binary
    process.arguments = ["--address", "127.0.0.1:\(port)", "--log-level", "error"] + (http ? ["--http-address", "127.0.0.1:0"] : []) + extra
    let output = Pipe()
    process.standardOutput = output
    let exited = OneShot<Int32>()
    process.terminationHandler = { exited.resolve(.success($0.terminationStatus)) }
    try process.run()
    let handle = output.fileHandleForReading
    let lines = try await withTimeout(.seconds(30), "runtime-host start") {
      try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[String], any Error>) in
        DispatchQueue.global().async {
          var lines: [String] = []
          var bytes = Data()
          while lines.count < (http ? 2 : 1) {
            let chunk = handle.readData(ofLength: 1)
            if chunk.isEmpty { break }
            if chunk == Data("\n".utf8) {
              lines.append(String(decoding: bytes, as: UTF8.self))
              bytes = Data()
            } else {
              bytes.append(chunk)
            }
          }
          continuation.resume(returning: lines)
        }
      }
    }
    // "runtime-host listening on HOST:PORT", then "runtime-host http on http://HOST:PORT (…)".
    guard let text = lines.first?.split(separator: " ").last,
      !http || (lines.count == 2 && lines[1].contains("://"))
    else {
      process.terminate()
      throw BenchError(description: "runtime-host printed no address")
    }
    var host = HostProcess(pid: process.processIdentifier, address: try HostAddress(parsing: String(text)), exited: exited)
    if http, let url = lines[1].split(separator: " ").first(where: { $0.contains("://") }) {
      host.http = try HostAddress(parsing: String(url.split(separator: "/").last!))
    }
    return host
  }

  /// SIGKILL: the host vanishes without closing anything.
  func kill() async throws {
    Foundation.kill(pid, SIGKILL)
    _ = try await withTimeout(.seconds(30), "runtime-host kill") { try await exited.value() }
  }

  func stop() async throws {
    Foundation.kill(pid, SIGTERM)
    let status = try await withTimeout(.seconds(30), "runtime-host stop") { try await exited.value() }
    guard status == 0 else { throw BenchError(description: "runtime-host exited with \(status) after SIGTERM") }
  }
}
