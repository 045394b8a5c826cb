import AgentCore
import AgentWire
import ArgumentParser
import Foundation

/// `runtime-bench scale`: how the host's cost per publish and per call grows with the number of
/// connected workers.
///
/// At each count, that many idle workers connect first, each registering an agent type `T` with a
/// type subscription and the `"T:"` prefix subscription AutoGen's workers add; then the usual
/// publish and RPC workloads run beside them. A host that scanned every prefix subscription per
/// publish would show it here.
struct ScaleBench: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "scale",
    abstract: "Publish and RPC cost of a host with 0, 1,000 and 10,000 connected workers.")

  @OptionGroup var target: BenchHostOptions
  @Option(help: "Connected-worker counts to measure at, comma-separated.")
  var workers: String = "0,1000,10000"
  @Option(help: "Idle workers' channels per gRPC connection.")
  var channelsPerConnection: Int = 100
  @Option(help: "Messages in each publish run.")
  var messages: Int = 20_000
  @Option(help: "RPCs at 1 caller.")
  var rpcCalls: Int = 2_000
  @Option(help: "RPCs per caller at 16 callers.")
  var rpcCallsPerCaller16: Int = 250
  @Option(help: "Seconds allowed for connecting the workers of one count.")
  var connectTimeout: Int = 300
  @Flag(help: "A few-second smoke run with small numbers.")
  var quick = false

  func run() async throws {
    let counts = quick ? [0, 100] : try workers.split(separator: ",").map { text in
      guard let count = Int(text.trimmingCharacters(in: .whitespaces)), count >= 0 else {
        throw ValidationError("--workers: '\(text)' is not a count")
      }
      return count
    }
    let messages = quick ? 2_000 : self.messages
    let rpcCalls = quick ? 200 : self.rpcCalls
    let rpc16 = quick ? 20 : rpcCallsPerCaller16
    let perConnection = channelsPerConnection
    let connectTimeout = self.connectTimeout

    var rows: [(String, String)] = [("machine", machineDescription())]
    try await withBenchHost(target) { address, pid in
      for count in counts {
        log("\(count) connected workers (\(perConnection) per connection), each with a type and a prefix subscription")
        let row = try await withTimeout(.seconds(connectTimeout + 600), "\(count) workers") {
          try await withIdleWorkers(address: address, workers: count, perConnection: perConnection, directMessagePrefix: true) {
            let rss = pid.flatMap(residentBytes(pid:))
            let (publish, publishCPU) = try await measuringHostCPU(pid: pid, count: messages) {
              try await publishThroughput(address: address, hostPid: pid, count: messages)
            }
            let (one, oneCPU) = try await measuringHostCPU(pid: pid, count: rpcCalls) {
              try await rpcLatency(address: address, callers: 1, callsPerCaller: rpcCalls)
            }
            let (_, sixteenCPU) = try await measuringHostCPU(pid: pid, count: 16 * rpc16) {
              try await rpcLatency(address: address, callers: 16, callsPerCaller: rpc16)
            }
            guard publish.missing == 0, publish.duplicates == 0, one.errors == 0 else {
              throw BenchError(description: "delivery failed with \(count) workers: \(publish.missing) missing, \(one.errors) RPC errors")
            }
            func micros(_ value: Double?) -> String { value.map { String(format: "%.0f µs", $0) } ?? "n/a" }
            return "publish \(String(format: "%.0f", publish.messagesPerSecond)) msg/s, host CPU \(micros(publishCPU))/message"
              + " | rpc x1 p50 \(String(format: "%.0f", one.p50Microseconds)) µs, host CPU \(micros(oneCPU))/call"
              + " | rpc x16 host CPU \(micros(sixteenCPU))/call | host RSS \(megabytes(rss))"
          }
        }
        rows.append(("\(count) workers", row))
      }
    }
    let width = rows.map(\.0.count).max() ?? 0
    print(rows.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(separator: "\n"))
  }
}
