import AgentCore
import AgentWire
import ArgumentParser
import Foundation
import GrpcWorker
import Logging
import Synchronization

// Load, soak and reconnect checks with the product's own worker runtime (GrpcWorkerRuntime), N
// workers in this process, each with its own connection to a runtime-host process on loopback.

/// One published message: who sent it, its number, and the round it belongs to.
struct LoadTick: Codable, Sendable {
  var publisher: Int
  var seq: Int
  var round: Int
}

struct LoadPing: Codable, Sendable { var value: Int }
struct LoadPong: Codable, Sendable { var value: Int }

let loadSerializers: SerializationRegistry = {
  var registry = SerializationRegistry()
  registry.registerJSON(LoadTick.self)
  registry.registerJSON(LoadPing.self)
  registry.registerJSON(LoadPong.self)
  return registry
}()

/// A value tasks wait on until a predicate holds (bounded), updated under a lock.
final class Watched<Value: Sendable>: Sendable {
  private let value: Mutex<Value>
  private let changes: AsyncStream<Void>
  private let changed: AsyncStream<Void>.Continuation

  init(_ initial: Value) {
    value = Mutex(initial)
    (changes, changed) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
  }

  func update<R>(_ body: (inout Value) -> R) -> R {
    defer { changed.yield() }
    return value.withLock { body(&$0) }
  }

  var current: Value { value.withLock { $0 } }

  /// Waits until `predicate` holds; throws after `timeout`. One waiter at a time.
  func wait(_ what: String, timeout: Duration, until predicate: @escaping @Sendable (Value) -> Bool) async throws {
    changed.yield()
    try await withTimeout(timeout, what) {
      for await _ in self.changes where predicate(self.current) { return }
    }
  }
}

/// Exactly-once bookkeeping for one round: how often each sink saw each (publisher, seq).
struct Ledger: Sendable {
  var round: Int
  var workers: Int
  var messages: Int
  /// counts[sink][publisher * messages + seq]
  var counts: [[UInt8]]
  var delivered = 0
  /// End-of-round markers (seq -1) received: one per (publisher, sink) closes the round.
  var markers = 0
  /// Ticks from another round, or out of range: always an error.
  var stray = 0

  init(round: Int, workers: Int, messages: Int) {
    self.round = round
    self.workers = workers
    self.messages = messages
    counts = Array(repeating: Array(repeating: 0, count: workers * messages), count: workers)
  }

  var expected: Int { workers * workers * messages }

  mutating func record(sink: Int, _ tick: LoadTick) {
    if tick.seq == -1, tick.round == round {
      markers += 1
      return
    }
    guard tick.round == round, tick.publisher < workers, tick.seq < messages, tick.seq >= 0 else {
      stray += 1
      return
    }
    counts[sink][tick.publisher * messages + tick.seq] &+= 1
    delivered += 1
  }

  /// (missing, duplicated) deliveries, counting only the (sink, publisher) pairs `expected` admits.
  func errors(expected: (_ sink: Int, _ publisher: Int) -> Bool = { _, _ in true }) -> (missing: Int, duplicated: Int) {
    var missing = 0
    var duplicated = stray
    for (sink, row) in counts.enumerated() {
      for publisher in 0..<workers where expected(sink, publisher) {
        for count in row[publisher * messages..<(publisher + 1) * messages] {
          if count == 0 { missing += 1 } else if count > 1 { duplicated += Int(count) - 1 }
        }
      }
    }
    return (missing, duplicated)
  }
}

/// Subscribed to topic type `load` on every worker, and to `self-<index>` on its own.
actor LoadSink: RoutedAgent {
  nonisolated let id: AgentId
  let index: Int
  let ledger: Watched<Ledger>

  init(id: AgentId, index: Int, ledger: Watched<Ledger>) {
    self.id = id
    self.index = index
    self.ledger = ledger
  }

  static func registerHandlers(_ router: inout MessageRouter<LoadSink>) {
    router.onEvent(LoadTick.self) { agent, tick, _ in
      let index = agent.index
      agent.ledger.update { $0.record(sink: index, tick) }
    }
    router.onRPC(LoadPing.self) { _, ping, _ in LoadPong(value: ping.value + 1) }
  }
}

struct LoadOptions: ParsableArguments {
  @Option(help: "Workers (each its own gRPC connection).")
  var workers: Int = 4
  @Option(help: "Messages each worker publishes per round (every worker receives all of them).")
  var messages: Int = 1_000
  @Option(help: "RPCs each worker makes per round, to the next worker's agents.")
  var rpcs: Int = 100
  @Option(help: "Seconds allowed for one round.")
  var roundTimeout: Int = 120

  func validate() throws {
    guard workers > 0, messages > 0, rpcs >= 0, roundTimeout > 0 else {
      throw ValidationError("--workers, --messages and --round-timeout must be positive")
    }
  }
}

/// N connected workers and the ledger their sinks write to.
struct Fleet: Sendable {
  var workers: [GrpcWorkerRuntime]
  var ledger: Watched<Ledger>
  var events: Watched<[[(GrpcWorkerRuntime.ConnectionEvent, ContinuousClock.Instant)]]>
}

/// Starts `count` workers against `address`, registers one sink per worker, runs `body`, then
/// shuts the workers down.
func withFleet<R: Sendable>(
  address: HostAddress, count: Int, reconnect: GrpcWorkerRuntime.ReconnectPolicy = .init(),
  _ body: @Sendable (Fleet) async throws -> R
) async throws -> R {
  var logger = Logger(label: "load")
  logger.logLevel = .critical
  let ledger = Watched(Ledger(round: -1, workers: count, messages: 1))
  let events = Watched([[(GrpcWorkerRuntime.ConnectionEvent, ContinuousClock.Instant)]](repeating: [], count: count))
  var configuration = GrpcWorkerRuntime.Configuration(host: address, defaultRPCTimeout: .seconds(60), shutdownGracePeriod: .seconds(5))
  configuration.reconnect = reconnect
  configuration.maxBufferedPublishes = 1_000_000
  let workers = (0..<count).map { _ in
    GrpcWorkerRuntime(configuration: configuration, serializers: loadSerializers, logger: logger)
  }
  return try await withThrowingTaskGroup(of: Void.self) { group in
    for (index, worker) in workers.enumerated() {
      let stream = worker.connectionEvents()
      group.addTask {
        for await event in stream { events.update { $0[index].append((event, .now)) } }
      }
      group.addTask { try await worker.run() }
    }
    do {
      for (index, worker) in workers.enumerated() {
        try await worker.register(try AgentType("sink\(index)"), subscriptions: [.type("load"), .type("self-\(index)")]) { id, _ in
          LoadSink(id: id, index: index, ledger: ledger)
        }
      }
      let result = try await body(Fleet(workers: workers, ledger: ledger, events: events))
      for worker in workers { worker.shutdown() }
      try await group.waitForAll()
      return result
    } catch {
      for worker in workers { worker.shutdown() }
      try? await group.waitForAll()
      throw error
    }
  }
}

struct RoundResult: Sendable {
  var delivered: Int
  var missing: Int
  var duplicated: Int
  var rpcErrors: Int
  var seconds: Double
}

/// One round: every worker publishes `messages` ticks to `load` and makes `rpcs` calls; waits for
/// every delivery, then checks each arrived exactly once.
func runRound(_ fleet: Fleet, round: Int, messages: Int, rpcs: Int, timeout: Duration) async throws -> RoundResult {
  let count = fleet.workers.count
  fleet.ledger.update { $0 = Ledger(round: round, workers: count, messages: messages) }
  let started = ContinuousClock.now
  let rpcErrors = try await withThrowingTaskGroup(of: Int.self) { group in
    for (index, worker) in fleet.workers.enumerated() {
      group.addTask {
        for seq in 0..<messages {
          try await worker.publish(LoadTick(publisher: index, seq: seq, round: round), to: TopicId(type: "load", source: "w\(index)"))
        }
        var errors = 0
        let callee = try AgentType("sink\((index + 1) % count)")
        for call in 0..<rpcs {
          do {
            let pong = try await worker.send(LoadPing(value: call), to: AgentId(type: callee, key: "k\(call % 8)"), returning: LoadPong.self)
            if pong.value != call + 1 { errors += 1 }
          } catch {
            errors += 1
          }
        }
        return errors
      }
    }
    return try await group.reduce(0, +)
  }
  let expected = count * count * messages
  do {
    try await fleet.ledger.wait("round \(round): \(expected) deliveries", timeout: timeout) { $0.delivered >= expected }
  } catch {
    log("round \(round) incomplete: \(fleet.ledger.current.delivered) of \(expected) delivered")
  }
  let seconds = (ContinuousClock.now - started).seconds
  // A duplicate would arrive behind its original on the same streams, and each sink agent (one per
  // publisher) handles messages in order: an end marker from every publisher, received by every
  // sink, closes the round.
  for (index, worker) in fleet.workers.enumerated() {
    try await worker.publish(LoadTick(publisher: index, seq: -1, round: round), to: TopicId(type: "load", source: "w\(index)"))
  }
  try await fleet.ledger.wait("round \(round): end markers", timeout: timeout) { $0.markers >= count * count }
  let errors = fleet.ledger.current.errors()
  return RoundResult(
    delivered: fleet.ledger.current.delivered, missing: errors.missing, duplicated: errors.duplicated,
    rpcErrors: rpcErrors, seconds: seconds)
}

func megabytes(_ bytes: Int?) -> String { bytes.map { String(format: "%.1f MB", Double($0) / 1_048_576) } ?? "n/a" }

/// `runtime-bench load`: N workers exchange M messages each; exact delivery counts are checked.
struct Load: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "N workers publish M messages each (and make RPCs); checks every delivery arrived exactly once.")

  @OptionGroup var options: LoadOptions

  func run() async throws {
    let host = try await HostProcess.start()
    do {
      let result = try await withFleet(address: host.address, count: options.workers) { fleet in
        try await runRound(fleet, round: 0, messages: options.messages, rpcs: options.rpcs, timeout: .seconds(options.roundTimeout))
      }
      let expected = options.workers * options.workers * options.messages
      print("machine: \(machineDescription())")
      print("load: \(options.workers) workers x \(options.messages) publishes (\(expected) deliveries) + \(options.workers * options.rpcs) RPCs")
      print(String(format: "delivered %d, missing %d, duplicated %d, rpc errors %d, in %.2f s (%.0f deliveries/s)",
        result.delivered, result.missing, result.duplicated, result.rpcErrors, result.seconds, Double(result.delivered) / result.seconds))
      print("host RSS after the run: \(megabytes(residentBytes(pid: host.pid)))")
      guard result.missing == 0, result.duplicated == 0, result.rpcErrors == 0 else {
        throw BenchError(description: "load check failed: \(result.missing) missing, \(result.duplicated) duplicated, \(result.rpcErrors) RPC errors")
      }
      print("OK: every message delivered exactly once")
    } catch {
      try? await host.stop()
      throw error
    }
    try await host.stop()
  }
}

/// `runtime-bench soak`: load rounds back to back for a duration, recording the host's resident
/// memory at intervals; every round is checked for exact delivery.
struct Soak: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Load rounds for a duration, recording the host's resident memory at intervals.")

  @OptionGroup var options: LoadOptions
  @Option(help: "How long to run, in seconds.")
  var duration: Int = 600
  @Option(help: "Seconds between memory samples.")
  var interval: Int = 10
  @Option(help: "Write the samples as CSV (seconds,rss_bytes,deliveries) to this file.")
  var csv: String?

  func run() async throws {
    let host = try await HostProcess.start()
    let samples = Watched<[(Double, Int, Int)]>([])
    let delivered = Watched(0)
    do {
      let started = ContinuousClock.now
      let end = started + .seconds(duration)
      let (rounds, failures) = try await withFleet(address: host.address, count: options.workers) { fleet in
        try await withThrowingTaskGroup(of: Void.self) { group in
          let interval = self.interval
          group.addTask {
            while ContinuousClock.now < end {
              let rss = residentBytes(pid: host.pid) ?? 0
              let elapsed = (ContinuousClock.now - started).seconds
              samples.update { $0.append((elapsed, rss, delivered.current)) }
              log(String(format: "%6.0f s  host RSS %@  deliveries %d", elapsed, megabytes(rss), delivered.current))
              try await Task.sleep(for: .seconds(interval))
            }
          }
          var round = 0
          var failures: [String] = []
          while ContinuousClock.now < end {
            let result = try await runRound(
              fleet, round: round, messages: options.messages, rpcs: options.rpcs, timeout: .seconds(options.roundTimeout))
            delivered.update { $0 += result.delivered }
            if result.missing + result.duplicated + result.rpcErrors > 0 {
              failures.append("round \(round): \(result.missing) missing, \(result.duplicated) duplicated, \(result.rpcErrors) RPC errors")
            }
            round += 1
          }
          group.cancelAll()
          try? await group.waitForAll()
          return (round, failures)
        }
      }
      let finalRSS = residentBytes(pid: host.pid) ?? 0
      samples.update { $0.append(((ContinuousClock.now - started).seconds, finalRSS, delivered.current)) }
      print("machine: \(machineDescription())")
      print("soak: \(options.workers) workers, \(rounds) rounds of \(options.messages) publishes per worker + \(options.rpcs) RPCs per worker, \(duration) s")
      print("seconds  host RSS   deliveries")
      for (elapsed, rss, count) in samples.current {
        print(String(format: "%7.0f  %-9@  %d", elapsed, megabytes(rss), count))
      }
      if let csv {
        let text = "seconds,rss_bytes,deliveries\n" + samples.current.map { "\(Int($0.0)),\($0.1),\($0.2)" }.joined(separator: "\n") + "\n"
        try text.write(toFile: csv, atomically: true, encoding: .utf8)
      }
      guard failures.isEmpty else { throw BenchError(description: "soak failures:\n" + failures.joined(separator: "\n")) }
      print("OK: \(delivered.current) deliveries in \(rounds) rounds, each exactly once")
    } catch {
      try? await host.stop()
      throw error
    }
    try await host.stop()
  }
}

/// `runtime-bench reconnect`: SIGKILL the host under N connected workers, publish while it is
/// down, restart it on the same port, and measure how long the workers take to come back; the
/// publishes buffered meanwhile must arrive exactly once.
struct Reconnect: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Kill and restart the host under N workers: reconnect time, and buffered publishes delivered exactly once.")

  @Option(help: "Workers.")
  var workers: Int = 8
  @Option(help: "Messages each worker publishes while the host is down.")
  var buffered: Int = 500
  @Option(help: "Kill-and-restart cycles.")
  var cycles: Int = 3

  func run() async throws {
    let hosts = Watched(try await HostProcess.start())
    let address = hosts.current.address
    let port = address.port
    let policy = GrpcWorkerRuntime.ReconnectPolicy(initialBackoff: .milliseconds(50), maxBackoff: .seconds(1))
    do {
      let lines = try await withFleet(address: address, count: workers, reconnect: policy) { fleet in
        var lines: [String] = []
        let count = fleet.workers.count
        try await fleet.events.wait("all connected", timeout: .seconds(60)) { $0.allSatisfy { $0.count == 1 } }
        for cycle in 1...cycles {
          let seen = fleet.events.current.map(\.count)
          let killedAt = ContinuousClock.now
          try await hosts.current.kill()
          try await fleet.events.wait("all disconnected", timeout: .seconds(60)) { events in
            events.indices.allSatisfy { events[$0].count > seen[$0] }
          }
          let noticed = fleet.events.current.indices.map { fleet.events.current[$0][seen[$0]].1 - killedAt }.max()!

          // Publish while the host is down: each worker to its own sink only, so the order in
          // which workers come back does not matter.
          fleet.ledger.update { $0 = Ledger(round: 1_000 + cycle, workers: count, messages: buffered) }
          for (index, worker) in fleet.workers.enumerated() {
            for seq in 0..<buffered {
              try await worker.publish(
                LoadTick(publisher: index, seq: seq, round: 1_000 + cycle), to: TopicId(type: "self-\(index)", source: "w\(index)"))
            }
          }
          let restartedAt = ContinuousClock.now
          let restarted = try await HostProcess.start(port: port)
          hosts.update { $0 = restarted }
          let listeningAt = ContinuousClock.now
          try await fleet.events.wait("all reconnected", timeout: .seconds(60)) { events in
            events.indices.allSatisfy { events[$0].count > seen[$0] + 1 }
          }
          let reconnected = fleet.events.current.indices.map { fleet.events.current[$0][seen[$0] + 1].1 }
          let afterListening = reconnected.map { $0 - listeningAt }.sorted()
          try await fleet.ledger.wait("buffered deliveries", timeout: .seconds(60)) { $0.delivered >= count * buffered }
          // Each worker published to its own sink only.
          let (missing, duplicated) = fleet.ledger.current.errors { sink, publisher in sink == publisher }
          // And a full round through the new host.
          let round = try await runRound(fleet, round: cycle, messages: 200, rpcs: 20, timeout: .seconds(60))
          let line = String(
            format: "cycle %d: kill noticed by all in %.0f ms; host restart took %.0f ms; all %d workers reconnected %.0f ms (median %.0f ms) after it listened; buffered %d: missing %d, duplicated %d; next round: missing %d, duplicated %d, rpc errors %d",
            cycle, noticed.seconds * 1000, (listeningAt - restartedAt).seconds * 1000, count,
            afterListening.last!.seconds * 1000, afterListening[afterListening.count / 2].seconds * 1000,
            count * buffered, missing, duplicated, round.missing, round.duplicated, round.rpcErrors)
          log(line)
          lines.append(line)
          guard missing == 0, duplicated == 0, round.missing == 0, round.duplicated == 0, round.rpcErrors == 0 else {
            throw BenchError(description: "reconnect check failed: \(line)")
          }
        }
        return lines
      }
      try await hosts.current.stop()
      print("machine: \(machineDescription())")
      for line in lines { print(line) }
      print("OK: every buffered publish delivered exactly once after each restart")
    } catch {
      try? await hosts.current.stop()
      throw error
    }
  }
}
