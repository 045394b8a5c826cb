import AgentCore
import AgentWire
import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// `runtime-bench console`: what the web console's reads cost on a large bus.
///
/// Connects `--workers` idle workers (each serving its own agent type, with AutoGen's `T:` prefix
/// subscription), places `--instances` agent instances (HTTP calls to the echo agent with distinct
/// keys), then times the routes the console polls every 2 s: `/v1/overview`, a page of
/// `/v1/workers` (first, last, filtered), `/v1/agent-types` and `/metrics`, with their sizes.
struct ConsoleBench: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "console",
    abstract: "The web console's routes on a host with many workers and instances (starts runtime-host).")

  @Option(help: "Idle workers connected.")
  var workers: Int = 1_000
  @Option(help: "Agent instances placed.")
  var instances: Int = 10_000
  @Option(help: "Requests per route.")
  var requests: Int = 50
  @Flag(help: "A few-second smoke run with small numbers.")
  var quick = false

  func run() async throws {
    let workers = quick ? 50 : self.workers
    let instances = quick ? 200 : self.instances
    let requests = quick ? 5 : self.requests
    let host = try await HostProcess.start(http: true)
    let client = HTTPClient(eventLoopGroupProvider: .singleton)
    do {
      guard let http = host.http else { throw BenchError(description: "runtime-host has no HTTP address") }
      var rows: [(String, String)] = [("machine", machineDescription())]
      rows += try await withIdleWorkers(address: host.address, workers: workers, perConnection: 100, directMessagePrefix: true) {
        try await withEchoWorker(host.address) {
          var rows: [(String, String)] = []
          log("placing \(instances) instances")
          try await place(client, http, instances: instances)
          let routes = [
            ("/v1/overview", "overview"),
            ("/v1/workers?limit=100", "workers, first page of 100"),
            ("/v1/workers?offset=\(max(0, workers - 100))&limit=100", "workers, last page"),
            ("/v1/workers?q=idle_7", "workers, filtered"),
            ("/v1/agent-types", "agent types (all \(workers + 1))"),
            ("/metrics", "metrics"),
          ]
          for (path, label) in routes {
            let (latencies, bytes) = try await timeRoute(client, "http://\(http)\(path)", requests: requests)
            rows.append((label, String(format: "p50 %.1f ms, p99 %.1f ms, %d bytes", latencies.p50, latencies.p99, bytes)))
          }
          return rows
        }
      }
      rows.insert(("bus", "\(workers) idle workers + 1 echo worker, \(instances) instances placed"), at: 1)
      if let rss = residentBytes(pid: host.pid) { rows.append(("host resident memory", "\(rss / 1_048_576) MiB")) }
      let width = rows.map(\.0.count).max() ?? 0
      print(rows.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(separator: "\n"))
    } catch {
      try? await client.shutdown()
      try? await host.stop()
      throw error
    }
    try await client.shutdown()
    try await host.stop()
  }

  /// `instances` calls to the echo agent with distinct keys, 16 at a time.
  private func place(_ client: HTTPClient, _ http: HostAddress, instances: Int) async throws {
    let body = ByteBuffer(bytes: payload(0).data)
    try await withThrowingTaskGroup(of: Void.self) { group in
      for caller in 0..<16 {
        group.addTask {
          for index in stride(from: caller, to: instances, by: 16) {
            var request = HTTPClientRequest(url: "http://\(http)/v1/agents/bench_echo/i\(index)?type=BenchMessage")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(body)
            let response = try await client.execute(request, timeout: .seconds(30))
            _ = try await response.body.collect(upTo: 1 << 20)
            guard response.status == .ok else { throw BenchError(description: "placing instance \(index): HTTP \(response.status.code)") }
          }
        }
      }
      try await group.waitForAll()
    }
  }

  private func timeRoute(_ client: HTTPClient, _ url: String, requests: Int) async throws -> ((p50: Double, p99: Double), Int) {
    var latencies: [Double] = []
    var bytes = 0
    for _ in 0..<requests {
      let started = now()
      let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(30))
      let body = try await response.body.collect(upTo: 64 << 20)
      guard response.status == .ok else { throw BenchError(description: "\(url): HTTP \(response.status.code)") }
      latencies.append(Double(now() - started) / 1_000_000)
      bytes = body.readableBytes
    }
    latencies.sort()
    let p99 = latencies[min(latencies.count - 1, Int((Double(latencies.count) * 0.99).rounded(.up)) - 1)]
    return ((latencies[latencies.count / 2], p99), bytes)
  }
}
