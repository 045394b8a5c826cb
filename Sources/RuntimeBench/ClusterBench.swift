import AgentCore
import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore

/// `runtime-bench cluster`: the same workloads on a single host and across the nodes of a
/// cluster, in one run: publish throughput and RPC latency (1 and 16 callers) with both workers
/// on one node and with them on two nodes, and the rate of new placements (each call to a new
/// agent instance, claimed in the directory). Starts every host itself.
struct ClusterBench: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "cluster",
    abstract: "Single-host vs same-node vs cross-node publish and RPC figures, and new placements per second (runtime-host --cluster).")

  @Option(help: "The cluster's PostgreSQL database, postgres://USER@HOST:PORT/DB (default: $AGENTS_TEST_POSTGRES_URL).")
  var postgres: String?
  @Option(help: "Messages in each publish run.")
  var messages: Int = 20_000
  @Option(help: "RPCs in each run at 1 caller.")
  var rpcCalls: Int = 2_000
  @Option(help: "RPCs per caller in each run at 16 callers.")
  var rpcCallsPerCaller16: Int = 250
  @Option(help: "New placements per caller (16 callers) in the placement run.")
  var placementsPerCaller: Int = 125
  @Option(help: "Idle nodes (no workers) that join the cluster too: each listens to the directory's notifications.")
  var idleNodes: Int = 0
  @Flag(help: "Skip the single host and the cross-node rows: the same-node row and placements only.")
  var placementsOnly = false
  @Flag(help: "A few-second smoke run with small numbers.")
  var quick = false

  struct Row {
    var setup: String
    var publish: PublishResult
    var publishCPU: Double?
    var rpc1: RPCResult
    var rpc16: RPCResult
    var placements: RPCResult?
    /// CPU per new placement: each node's (the caller's first), and PostgreSQL's (every `postgres`
    /// process on the machine).
    var placementNodesCPU: [Double]?
    var placementPostgresCPU: Double?
  }

  func run() async throws {
    guard let url = postgres ?? ProcessInfo.processInfo.environment["AGENTS_TEST_POSTGRES_URL"] else {
      throw ValidationError("give --postgres URL (or set AGENTS_TEST_POSTGRES_URL; scripts/postgres.sh starts a server)")
    }
    let messages = quick ? 2_000 : self.messages
    let rpcCalls = quick ? 200 : self.rpcCalls
    let rpc16 = quick ? 25 : rpcCallsPerCaller16
    let placements = quick ? 10 : placementsPerCaller
    var rows: [Row] = []

    if !placementsOnly {
      log("single host (no --cluster)")
      let single = try await HostProcess.start()
      do {
        rows.append(try await measure(
          "single host, no --cluster", caller: single.address, callee: single.address, pids: [single.pid],
          messages: messages, rpcCalls: rpcCalls, rpc16: rpc16, placements: nil))
      } catch {
        try? await single.stop()
        throw error
      }
      try await single.stop()
    }

    let schema = "bench_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
    var nodes: [HostProcess] = []
    do {
      for name in ["a", "b"] + (0..<idleNodes).map({ "idle\($0)" }) {
        let port = try freeLoopbackPort()
        nodes.append(try await HostProcess.start(port: port, http: true, arguments: [
          "--cluster", url, "--cluster-schema", String(schema), "--node-name", name,
        ]))
      }
      for node in nodes { try await waitUntilLinked(node, peers: nodes.count - 1) }
      let (a, b) = (nodes[0], nodes[1])
      let pids = nodes.map(\.pid)
      log("cluster of \(nodes.count) nodes: both workers on node a")
      rows.append(try await measure(
        "cluster, both workers on one node", caller: a.address, callee: a.address, pids: pids,
        messages: messages, rpcCalls: rpcCalls, rpc16: rpc16, placements: placements))
      if !placementsOnly {
        log("cluster of \(nodes.count) nodes: caller on node a, callee on node b")
        rows.append(try await measure(
          "cluster, workers on two nodes", caller: a.address, callee: b.address, pids: pids,
          messages: messages, rpcCalls: rpcCalls, rpc16: rpc16, placements: placements))
      }
    } catch {
      for node in nodes { try? await node.stop() }
      throw error
    }
    for node in nodes { try await node.stop() }
    print(table(rows))
  }

  private func measure(
    _ setup: String, caller: HostAddress, callee: HostAddress, pids: [Int32],
    messages: Int, rpcCalls: Int, rpc16: Int, placements: Int?
  ) async throws -> Row {
    let other = caller == callee ? nil : callee
    let before = pids.compactMap(cpuSeconds(pid:)).reduce(0, +)
    let publish = try await withTimeout(.seconds(300), "publish") {
      try await publishThroughput(address: caller, sinkAddress: other, hostPid: nil, count: messages)
    }
    let after = pids.compactMap(cpuSeconds(pid:)).reduce(0, +)
    guard publish.missing == 0, publish.duplicates == 0 else {
      throw BenchError(description: "\(setup): publish not exactly once: \(publish.missing) missing, \(publish.duplicates) duplicated")
    }
    let one = try await withTimeout(.seconds(300), "rpc x1") {
      try await rpcLatency(address: caller, calleeAddress: other, callers: 1, callsPerCaller: rpcCalls)
    }
    let sixteen = try await withTimeout(.seconds(300), "rpc x16") {
      try await rpcLatency(address: caller, calleeAddress: other, callers: 16, callsPerCaller: rpc16)
    }
    var placed: RPCResult?
    var placementNodesCPU: [Double]?
    var placementPostgresCPU: Double?
    if let placements {
      let nodesBefore = pids.map { cpuSeconds(pid: $0) ?? 0 }
      let postgresBefore = postgresCPUSeconds()
      let result = try await withTimeout(.seconds(300), "placements") {
        try await rpcLatency(address: caller, calleeAddress: other, callers: 16, callsPerCaller: placements, newKeys: true)
      }
      let count = Double(max(1, result.calls))
      placementNodesCPU = zip(pids, nodesBefore).map { pid, before in ((cpuSeconds(pid: pid) ?? 0) - before) / count * 1e6 }
      placementPostgresCPU = (postgresCPUSeconds() - postgresBefore) / count * 1e6
      placed = result
    }
    for result in [one, sixteen] + (placed.map { [$0] } ?? []) where result.errors > 0 {
      throw BenchError(description: "\(setup): \(result.errors) RPC errors")
    }
    return Row(
      setup: setup, publish: publish, publishCPU: (after - before) / Double(messages) * 1e6, rpc1: one, rpc16: sixteen,
      placements: placed, placementNodesCPU: placementNodesCPU, placementPostgresCPU: placementPostgresCPU)
  }

  /// Waits (bounded) until `node`'s `/v1/cluster` says it is a member linked to `peers` nodes.
  private func waitUntilLinked(_ node: HostProcess, peers: Int) async throws {
    struct Status: Decodable {
      struct Node: Decodable { var linked: Bool }
      var nodes: [Node]
      var problem: String?
    }
    guard let http = node.http else { throw BenchError(description: "the node serves no HTTP") }
    let deadline = ContinuousClock.now + .seconds(30)
    while true {
      let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://\(http)/v1/cluster"), timeout: .seconds(5))
      let body = try await response.body.collect(upTo: 1 << 20)
      if let status = try? JSONDecoder().decode(Status.self, from: Data(body.readableBytesView)),
        status.problem == nil, status.nodes.filter({ $0.linked }).count == peers
      {
        return
      }
      guard ContinuousClock.now < deadline else { throw BenchError(description: "node at \(http) not linked within 30 s") }
      try await Task.sleep(for: .milliseconds(50))
    }
  }

  private func table(_ rows: [Row]) -> String {
    var lines = ["machine: \(machineDescription())", ""]
    lines.append("| | publish msg/s | hosts' CPU per publish | RPC 1 caller p50 / p99 | RPC 16 callers calls/s, p50 / p99 | new placements/s (16 callers), p50 / p99 | CPU per placement: node a + node b (+ idle nodes) / PostgreSQL |")
    lines.append("|---|---|---|---|---|---|---|")
    func micro(_ value: Double) -> String { String(format: "%.0f µs", value) }
    for row in rows {
      let placements = row.placements.map {
        String(format: "%.0f, ", $0.callsPerSecond) + micro($0.p50Microseconds) + " / " + micro($0.p99Microseconds)
      } ?? "n/a (no directory)"
      lines.append(
        "| \(row.setup) | \(String(format: "%.0f", row.publish.messagesPerSecond)) | \(row.publishCPU.map(micro) ?? "n/a") "
          + "| \(micro(row.rpc1.p50Microseconds)) / \(micro(row.rpc1.p99Microseconds)) "
          + "| \(String(format: "%.0f", row.rpc16.callsPerSecond)), \(micro(row.rpc16.p50Microseconds)) / \(micro(row.rpc16.p99Microseconds)) "
          + "| \(placements) | \(row.placementNodesCPU.map { $0.map(micro).joined(separator: " + ") } ?? "n/a") / \(row.placementPostgresCPU.map(micro) ?? "n/a") |")
    }
    return lines.joined(separator: "\n")
  }
}

/// The CPU time (user + system, seconds) of every `postgres` process on this machine: the
/// benchmark's own throwaway server, when it runs on the same machine.
func postgresCPUSeconds() -> Double {
  guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return 0 }
  var total = 0.0
  for entry in entries {
    guard let pid = Int32(entry),
      let comm = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8),
      comm.trimmingCharacters(in: .whitespacesAndNewlines) == "postgres"
    else { continue }
    total += cpuSeconds(pid: pid) ?? 0
  }
  return total
}

/// A loopback port nothing listens on now (bound, then released): the cluster's nodes need their
/// address before they start, to tell each other.
func freeLoopbackPort() throws -> Int {
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  guard fd >= 0 else { throw BenchError(description: "socket() failed") }
  defer { close(fd) }
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  address.sin_port = 0
  var length = socklen_t(MemoryLayout<sockaddr_in>.size)
  let bound = withUnsafeMutablePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
  }
  guard bound else { throw BenchError(description: "bind() failed") }
  return Int(UInt16(bigEndian: address.sin_port))
}
