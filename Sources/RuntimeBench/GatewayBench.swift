import AgentCore
import AgentWire
import ArgumentParser
import AsyncHTTPClient
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOHTTP1
import Synchronization

/// `runtime-bench gateway`: the HTTP gateway against the worker path, in one run on one host.
///
/// - RPC to an echo agent at 1 and 16 callers: from bench workers (`agents.AgentRpc` channels)
///   and over HTTP (`POST /v1/agents/bench_echo/…`, keep-alive connections).
/// - Publish throughput with no SSE reader, with readers tapping another topic (the tap's cost
///   on the publish path), and with readers tapping the published topic (full fan-out: every reader
///   is sent every event). A publisher that saturates the machine outruns readers that share its
///   cores, so there the tap drops them (as it must, rather than slow the bus).
/// - Full fan-out at paced rates, rising until a rate where some reader misses events: the highest
///   rate at which every reader got every event, and the publish path at that rate with and
///   without the readers.
struct GatewayBench: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "gateway",
    abstract: "HTTP invoke and SSE fan-out against worker RPC and publish, in one run (starts runtime-host).")

  @Option(help: "Calls at 1 caller, each way.")
  var calls: Int = 2_000
  @Option(help: "Calls per caller at 16 callers, each way.")
  var callsPerCaller16: Int = 500
  @Option(help: "Messages per publish run.")
  var messages: Int = 20_000
  @Option(help: "SSE readers.")
  var readers: Int = 100
  @Option(help: "Messages per long saturating run with readers of the published topic (0 skips it).")
  var longMessages: Int = 300_000
  @Option(
    parsing: .upToNextOption,
    help: "Paced full fan-out: publish rates (msg/s) tried in turn, each for a second, until readers miss events.")
  var fanOutRates: [Int] = [5_000, 10_000, 20_000, 25_000, 30_000, 40_000, 60_000]
  @Flag(help: "A few-second smoke run with small numbers.")
  var quick = false

  func run() async throws {
    let calls = quick ? 100 : self.calls
    let calls16 = quick ? 20 : callsPerCaller16
    let messages = quick ? 1_000 : self.messages
    let readers = quick ? 10 : self.readers
    let rates = quick ? [1_000, 2_000] : fanOutRates
    let longMessages = quick ? 0 : self.longMessages
    let host = try await HostProcess.start(http: true)
    do {
      guard let http = host.http else { throw BenchError(description: "runtime-host has no HTTP address") }
      var configuration = HTTPClient.Configuration()
      configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(32, readers + 16)
      let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
      do {
        try await measure(
          client, host: host, http: http, calls: calls, calls16: calls16, messages: messages, readers: readers, rates: rates,
          longMessages: longMessages)
      } catch {
        try? await client.shutdown()
        throw error
      }
      try await client.shutdown()
    } catch {
      try? await host.stop()
      throw error
    }
    try await host.stop()
  }

  private func measure(
    _ client: HTTPClient, host: HostProcess, http: HostAddress, calls: Int, calls16: Int, messages: Int, readers: Int,
    rates: [Int], longMessages: Int
  ) async throws {
      var rows: [(String, String)] = [("machine", machineDescription())]
      func addCalls(_ label: String, _ result: RPCResult, hostCPU: Double?) {
        rows.append(("\(label): calls/s", String(format: "%.0f", result.callsPerSecond)))
        rows.append(("\(label): p50 / p99", String(
          format: "%.0f µs / %.0f µs (%d errors); host CPU per call %.0f µs", result.p50Microseconds, result.p99Microseconds,
          result.errors, hostCPU ?? .nan)))
      }
      // Each with the host's CPU per call (the calls' connecting included: a few milliseconds).
      log("worker rpc")
      let (worker1, worker1CPU) = try await measuringHostCPU(pid: host.pid, count: calls) {
        try await rpcLatency(address: host.address, callers: 1, callsPerCaller: calls)
      }
      let (worker16, worker16CPU) = try await measuringHostCPU(pid: host.pid, count: 16 * calls16) {
        try await rpcLatency(address: host.address, callers: 16, callsPerCaller: calls16)
      }
      log("http invoke")
      let ((http1, http1CPU), (http16, http16CPU)) = try await withEchoWorker(host.address) {
        (
          try await measuringHostCPU(pid: host.pid, count: calls) {
            try await httpInvoke(client, http, callers: 1, callsPerCaller: calls)
          },
          try await measuringHostCPU(pid: host.pid, count: 16 * calls16) {
            try await httpInvoke(client, http, callers: 16, callsPerCaller: calls16)
          }
        )
      }
      addCalls("worker rpc, 1 caller", worker1, hostCPU: worker1CPU)
      addCalls("http invoke, 1 caller", http1, hostCPU: http1CPU)
      addCalls("worker rpc, 16 callers", worker16, hostCPU: worker16CPU)
      addCalls("http invoke, 16 callers", http16, hostCPU: http16CPU)
      rows.append(("http / worker p50 at 1 caller", String(format: "%.2f x", http1.p50Microseconds / worker1.p50Microseconds)))
      rows.append(("http / worker host CPU per call at 1 / 16 callers", String(
        format: "%.2f x / %.2f x", (http1CPU ?? .nan) / (worker1CPU ?? .nan), (http16CPU ?? .nan) / (worker16CPU ?? .nan))))

      func publishRun(readersOn topic: String?, count: Int = messages, rate: Int? = nil) async throws -> PublishRun {
        let (((result, tally), hostCPU), benchCPU) = try await measuringHostCPU(pid: getpid(), count: count) {
          try await measuringHostCPU(pid: host.pid, count: count) {
            guard let topic else {
              return (try await publishThroughput(address: host.address, hostPid: host.pid, count: count, rate: rate), SSETally())
            }
            return try await withSSEReaders(client, http, count: readers, topic: topic) {
              try await publishThroughput(address: host.address, hostPid: host.pid, count: count, rate: rate)
            }
          }
        }
        return PublishRun(result: result, tally: tally, hostCPU: hostCPU, benchCPU: benchCPU)
      }
      log("publish, no SSE reader")
      let bare = try await publishRun(readersOn: nil)
      log("publish, \(readers) SSE readers on another topic")
      let idle = try await publishRun(readersOn: "bench.other")
      log("publish, \(readers) SSE readers on the published topic")
      let fanOut = try await publishRun(readersOn: "bench.topic")
      // Long enough that the readers' dropping (which a saturating publisher forces) is a small
      // part of the run.
      var long: (bare: PublishRun, fanOut: PublishRun)?
      if longMessages > 0 {
        log("publish \(longMessages), no SSE reader")
        let bare = try await publishRun(readersOn: nil, count: longMessages)
        log("publish \(longMessages), \(readers) SSE readers on the published topic")
        long = (bare, try await publishRun(readersOn: "bench.topic", count: longMessages))
      }
      // Paced: rising rates until one where a reader misses events (or is dropped).
      var paced: [(rate: Int, withReaders: PublishRun, without: PublishRun?)] = []
      for rate in rates {
        log("publish at \(rate) msg/s, \(readers) SSE readers on the published topic")
        let run = try await publishRun(readersOn: "bench.topic", count: rate, rate: rate)
        guard run.tally.frames == readers * rate, run.tally.ended == 0 else {
          paced.append((rate, run, nil))
          break
        }
        log("publish at \(rate) msg/s, no SSE reader")
        paced.append((rate, run, try await publishRun(readersOn: nil, count: rate, rate: rate)))
      }
      func publish(_ label: String, _ run: PublishRun) {
        rows.append((label, String(
          format: "%.0f msg/s (%d/%d delivered); CPU per message: host %.1f µs, bench %.1f µs", run.result.messagesPerSecond,
          run.result.received, run.result.messages, run.hostCPU ?? .nan, run.benchCPU ?? .nan)))
      }
      publish("publish, no SSE reader", bare)
      publish("publish, \(readers) SSE readers on another topic", idle)
      publish("publish, \(readers) SSE readers on the topic", fanOut)
      func tally(_ run: PublishRun, of count: Int) -> String {
        var text = "\(run.tally.frames) of \(readers * count); \(run.tally.ended) readers dropped"
        if run.tally.ended > 0 {
          text += String(format: ", the last %.0f ms after the run began", run.tally.lastEndedMilliseconds)
        }
        return text
      }
      rows.append(("  SSE events received (all readers)", tally(fanOut, of: messages)))
      rows.append(("publish with idle / full-fan-out readers vs none", String(
        format: "%.0f%% / %.0f%%", 100 * idle.result.messagesPerSecond / bare.result.messagesPerSecond,
        100 * fanOut.result.messagesPerSecond / bare.result.messagesPerSecond)))
      if let long {
        publish("publish \(longMessages), no SSE reader", long.bare)
        publish("publish \(longMessages), \(readers) SSE readers on the topic", long.fanOut)
        rows.append(("  SSE events received (all readers)", tally(long.fanOut, of: longMessages)))
        rows.append(("publish \(longMessages) with full-fan-out readers vs none", String(
          format: "%.0f%%", 100 * long.fanOut.result.messagesPerSecond / long.bare.result.messagesPerSecond)))
      }
      for step in paced {
        let run = step.withReaders
        var text = String(
          format: "%.0f msg/s; SSE events %d of %d, %d readers dropped; CPU per message: host %.1f µs, bench %.1f µs",
          run.result.messagesPerSecond, run.tally.frames, readers * step.rate, run.tally.ended, run.hostCPU ?? .nan,
          run.benchCPU ?? .nan)
        if let without = step.without {
          text += String(
            format: " (without readers: %.0f msg/s, host %.1f µs, bench %.1f µs)", without.result.messagesPerSecond,
            without.hostCPU ?? .nan, without.benchCPU ?? .nan)
        }
        rows.append(("paced \(step.rate) msg/s, \(readers) readers on the topic", text))
      }
      if let best = paced.last(where: { $0.without != nil }), let without = best.without {
        rows.append(("highest paced rate with every event to every reader", String(
          format: "%d msg/s (%d SSE events/s); publish with / without readers %.0f%%; host CPU per SSE event %.2f µs",
          best.rate, best.rate * readers, 100 * best.withReaders.result.messagesPerSecond / without.result.messagesPerSecond,
          ((best.withReaders.hostCPU ?? .nan) - (without.hostCPU ?? .nan)) / Double(readers))))
      } else {
        rows.append(("highest paced rate with every event to every reader", "none of \(rates)"))
      }
      let width = rows.map(\.0.count).max() ?? 0
      print(rows.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(separator: "\n"))
      let errors = worker1.errors + worker16.errors + http1.errors + http16.errors
      let runs = [bare, idle, fanOut] + (long.map { [$0.bare, $0.fanOut] } ?? []) + paced.flatMap { [$0.withReaders] + ($0.without.map { [$0] } ?? []) }
      guard errors == 0, runs.allSatisfy({ $0.result.missing == 0 && $0.result.duplicates == 0 }) else {
        throw BenchError(description: "errors or inexact delivery in the gateway benchmark")
      }
  }
}

/// `callers` HTTP clients each making sequential calls to the echo agent (keep-alive).
func httpInvoke(_ client: HTTPClient, _ http: HostAddress, callers: Int, callsPerCaller: Int) async throws -> RPCResult {
  let body = ByteBuffer(bytes: payload(0).data)
  return try await measureCalls(callers: callers) {
    try await withThrowingTaskGroup(of: ([UInt64], Int).self) { group in
      for caller in 0..<callers {
        group.addTask {
          var latencies: [UInt64] = []
          latencies.reserveCapacity(callsPerCaller)
          var errors = 0
          var request = HTTPClientRequest(url: "http://\(http)/v1/agents/bench_echo/k\(caller)?type=BenchMessage")
          request.method = .POST
          request.headers.add(name: "Content-Type", value: "application/json")
          for _ in 0..<callsPerCaller {
            request.body = .bytes(body)
            let started = now()
            let response = try await client.execute(request, timeout: .seconds(30))
            _ = try await response.body.collect(upTo: 1 << 20)
            if response.status != .ok { errors += 1 }
            latencies.append(now() - started)
          }
          return (latencies, errors)
        }
      }
      var all: [([UInt64], Int)] = []
      for try await result in group { all.append(result) }
      return all
    }
  }
}

/// Runs `body` while `count` SSE readers tail `topic`, each counting the events it receives;
/// returns `body`'s result and what the readers saw, once every reader has seen it or 10 s passed.
func withSSEReaders<R: Sendable>(
  _ client: HTTPClient, _ http: HostAddress, count: Int, topic: String, _ body: @Sendable () async throws -> R
) async throws -> (R, SSETally) {
  let counts = SSECounts()
  return try await withThrowingTaskGroup(of: Void.self) { group in
    for _ in 0..<count {
      group.addTask {
        let request = HTTPClientRequest(url: "http://\(http)/v1/topics/\(topic)/events")
        let response = try await client.execute(request, timeout: .seconds(600))
        counts.open.add(1, ordering: .relaxed)
        // Each event frame's "id: " line follows the blank line that ends the frame (or the
        // opening comment) before it: count "\n\nid: " without parsing, so that the readers,
        // which share the host's cores here, cost as little as they can. A few bytes carry
        // across chunks.
        var carry: [UInt8] = []
        for try await chunk in response.body {
          var bytes = carry
          bytes.append(contentsOf: chunk.readableBytesView)
          counts.received.add(countFrames(bytes), ordering: .relaxed)
          carry = Array(bytes.suffix(frameMark.count - 1))
        }
        // The host ended the stream before the run did: the tap dropped this reader.
        if !Task.isCancelled {
          counts.ended.add(1, ordering: .relaxed)
          counts.lastEnded.max(now(), ordering: .relaxed)
        }
      }
    }
    let deadline = ContinuousClock.now + .seconds(30)
    while counts.open.load(ordering: .relaxed) < count {
      guard ContinuousClock.now < deadline else { throw BenchError(description: "SSE readers did not connect") }
      try await Task.sleep(for: .milliseconds(10))
    }
    let started = now()
    let result = try await body()
    let settle = ContinuousClock.now + .seconds(10)
    var last = -1
    while ContinuousClock.now < settle, counts.received.load(ordering: .relaxed) != last {
      last = counts.received.load(ordering: .relaxed)
      try await Task.sleep(for: .milliseconds(200))
    }
    group.cancelAll()
    let ended = counts.ended.load(ordering: .relaxed)
    let lastEnded = ended == 0 ? 0 : Double(counts.lastEnded.load(ordering: .relaxed) - started) / 1e6
    return (result, SSETally(frames: counts.received.load(ordering: .relaxed), ended: ended, lastEndedMilliseconds: lastEnded))
  }
}

private let frameMark = Array("\n\nid: ".utf8)

/// How many times `frameMark` occurs in `bytes` (memchr for its first byte, so a reader costs
/// the bench little).
private func countFrames(_ bytes: [UInt8]) -> Int {
  bytes.withUnsafeBytes { buffer in
    guard let base = buffer.baseAddress else { return 0 }
    var offset = 0
    var found = 0
    while offset + frameMark.count <= buffer.count,
      let match = memchr(base + offset, Int32(frameMark[0]), buffer.count - offset - frameMark.count + 1)
    {
      let at = UnsafeRawPointer(match) - base
      if frameMark.indices.allSatisfy({ buffer[at + $0] == frameMark[$0] }) {
        found += 1
        offset = at + frameMark.count
      } else {
        offset = at + 1
      }
    }
    return found
  }
}

/// One publish run: its result, the SSE frames its readers received, and the CPU per message
/// of the host and of this process (publisher, sink and readers).
struct PublishRun {
  var result: PublishResult
  var tally: SSETally
  var hostCPU: Double?
  var benchCPU: Double?
}

/// What the SSE readers of ``withSSEReaders(_:_:count:topic:_:)`` have seen.
final class SSECounts: Sendable {
  let received = Atomic<Int>(0)
  let open = Atomic<Int>(0)
  let ended = Atomic<Int>(0)
  let lastEnded = Atomic<UInt64>(0)
}

/// What the SSE readers of a run saw: event frames, and readers whose stream the host ended (the
/// tap dropped them for falling behind).
struct SSETally: Sendable {
  var frames = 0
  var ended = 0
  /// When the last dropped reader's stream ended, after the run began.
  var lastEndedMilliseconds = 0.0
}
