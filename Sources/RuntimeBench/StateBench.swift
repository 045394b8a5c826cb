import AgentCore
import ArgumentParser
import Foundation
import GrpcWorker
import Logging

struct Bump: Codable, Sendable { var by: Int }
struct Bumped: Codable, Sendable { var count: Int }

/// Counts in durable state: saved by the host's store after each message.
actor StatefulBenchCounter: RoutedAgent, StatefulAgent {
  struct State: Codable, Sendable { var count = 0 }
  nonisolated let id: AgentId
  var state = State()
  init(id: AgentId) { self.id = id }

  static func registerHandlers(_ router: inout MessageRouter<StatefulBenchCounter>) {
    router.onRPC(Bump.self) { agent, bump, _ in
      agent.state.count += bump.by
      return Bumped(count: agent.state.count)
    }
  }
}

/// The same counter without declared state.
actor StatelessBenchCounter: RoutedAgent {
  nonisolated let id: AgentId
  var count = 0
  init(id: AgentId) { self.id = id }

  static func registerHandlers(_ router: inout MessageRouter<StatelessBenchCounter>) {
    router.onRPC(Bump.self) { agent, bump, _ in
      agent.count += bump.by
      return Bumped(count: agent.count)
    }
  }
}

/// A stateful agent's messages per second next to a stateless one's, with the host keeping state
/// in memory, in SQLite and in PostgreSQL; and the activation latency of an instance whose state
/// is loaded on a new worker.
struct StateBench: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "state",
    abstract: "Stateful vs stateless agents over runtime-host: msg/s with memory, SQLite and PostgreSQL stores; activation latency.")

  @Option(help: "A PostgreSQL database for the postgres run (postgres://USER@HOST:PORT/DB); without it that run is skipped.")
  var postgres: String?
  @Option(help: "Concurrent callers (each calls its own agent instance, one call after another).")
  var callers: Int = 16
  @Option(help: "Calls per caller in each run.")
  var calls: Int = 1_000
  @Option(help: "Instances whose activation (state loaded on a new worker) is timed.")
  var activations: Int = 200
  @Flag(help: "A few-second smoke run with small numbers.")
  var quick = false

  func run() async throws {
    let calls = quick ? 50 : self.calls
    let activations = quick ? 20 : self.activations
    print("machine: \(machineDescription())")
    print("each run: \(callers) callers x \(calls) sequential RPCs, one instance per caller, worker and caller in this process")
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("state-bench-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    try await measureInProcess(calls: calls)
    var stores: [(String, String)] = [("memory", "memory"), ("sqlite", "sqlite:\(directory.path)/state.sqlite")]
    if let postgres { stores.append(("postgres", postgres)) }
    for (name, setting) in stores {
      let host = try await HostProcess.start(arguments: ["--state-store", setting])
      do {
        try await measure(store: name, host: host.address, calls: calls, activations: activations)
      } catch {
        try? await host.stop()
        throw error
      }
      try await host.stop()
    }
  }

  private func measure(store: String, host address: HostAddress, calls: Int, activations: Int) async throws {
    var quiet = Logger(label: "state-bench")
    quiet.logLevel = .error
    var settings = GrpcWorkerRuntime.Configuration(host: address, defaultRPCTimeout: .seconds(30))
    settings.reconnect = nil
    let (logger, configuration) = (quiet, settings)
    let run = UUID().uuidString.prefix(8)
    let serializers = SerializationRegistry(json: Bump.self, Bumped.self)
    try await withGrpcWorker(configuration: configuration, serializers: serializers, logger: logger) { caller in
      try await withGrpcWorker(configuration: configuration, logger: logger) { worker in
        try await worker.register("stateful") { id, _ in StatefulBenchCounter(id: id) }
        try await worker.register("stateless") { id, _ in StatelessBenchCounter(id: id) }
        // Warm up both paths (connections, instances, the store's first writes).
        _ = try await rate(caller, type: "stateless", prefix: "warm-\(run)", calls: min(calls, 100))
        _ = try await rate(caller, type: "stateful", prefix: "warm-\(run)", calls: min(calls, 100))
        let stateless = try await rate(caller, type: "stateless", prefix: "s-\(run)", calls: calls)
        let stateful = try await rate(caller, type: "stateful", prefix: "s-\(run)", calls: calls)
        print(String(
          format: "%@: stateless %.0f msg/s, stateful %.0f msg/s (%.0f%% of stateless)",
          store, stateless, stateful, stateful / stateless * 100))
        // Instances whose state the next worker loads.
        for index in 0..<activations {
          _ = try await caller.send(Bump(by: 1), to: AgentId(type: "stateful", key: "a-\(run)-\(index)"), returning: Bumped.self)
        }
      }
      try await withGrpcWorker(configuration: configuration, logger: logger) { worker in
        try await worker.register("stateful") { id, _ in StatefulBenchCounter(id: id) }
        try await worker.register("stateless") { id, _ in StatelessBenchCounter(id: id) }
        var activation: [Double] = []
        var warm: [Double] = []
        var created: [Double] = []
        for index in 0..<activations {
          let id = try AgentId(type: "stateful", key: "a-\(run)-\(index)")
          let (first, answer) = try await timed { try await caller.send(Bump(by: 1), to: id, returning: Bumped.self) }
          guard answer.count == 2 else { throw BenchError(description: "\(id) did not load its state: count \(answer.count)") }
          activation.append(first)
          warm.append(try await timed { try await caller.send(Bump(by: 1), to: id, returning: Bumped.self) }.0)
          let fresh = try AgentId(type: "stateless", key: "a-\(run)-\(index)")
          created.append(try await timed { try await caller.send(Bump(by: 1), to: fresh, returning: Bumped.self) }.0)
        }
        print(String(
          format: "%@: first call to an instance moved to a new worker (activation: load, handle, save) p50 %.0f µs; its next call p50 %.0f µs; a new stateless instance's first call p50 %.0f µs",
          store, median(activation), median(warm), median(created)))
      }
    }
  }

  /// The same runs on the in-process runtime with an in-memory store: the runtime's own cost of
  /// keeping state, without the network.
  private func measureInProcess(calls: Int) async throws {
    var configuration = InProcessRuntime.Configuration()
    configuration.stateStore = InMemoryAgentStateStore()
    var quiet = Logger(label: "state-bench")
    quiet.logLevel = .error
    try await withInProcessRuntime(configuration: configuration, logger: quiet) { runtime in
      try await runtime.register("stateful") { id, _ in StatefulBenchCounter(id: id) }
      try await runtime.register("stateless") { id, _ in StatelessBenchCounter(id: id) }
      _ = try await rate(runtime, type: "stateless", prefix: "warm", calls: min(calls, 100))
      _ = try await rate(runtime, type: "stateful", prefix: "warm", calls: min(calls, 100))
      let stateless = try await rate(runtime, type: "stateless", prefix: "s", calls: calls * 10)
      let stateful = try await rate(runtime, type: "stateful", prefix: "s", calls: calls * 10)
      print(String(
        format: "in-process runtime, in-memory store: stateless %.0f msg/s, stateful %.0f msg/s (%.0f%% of stateless)",
        stateless, stateful, stateful / stateless * 100))
    }
  }

  /// Messages per second with `callers` concurrent callers, each to its own instance.
  private func rate(_ caller: some AgentRuntime, type: String, prefix: String, calls: Int) async throws -> Double {
    let start = ContinuousClock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
      for index in 0..<callers {
        let id = try AgentId(type: type, key: "\(prefix)-\(index)")
        group.addTask {
          for _ in 0..<calls { _ = try await caller.send(Bump(by: 1), to: id, returning: Bumped.self) }
        }
      }
      try await group.waitForAll()
    }
    let elapsed = ContinuousClock.now - start
    return Double(callers * calls) / (Double(elapsed.components.attoseconds) / 1e18 + Double(elapsed.components.seconds))
  }

  private func timed<T>(_ body: () async throws -> T) async throws -> (Double, T) {
    let start = ContinuousClock.now
    let result = try await body()
    let elapsed = ContinuousClock.now - start
    return (Double(elapsed.components.seconds) * 1e6 + Double(elapsed.components.attoseconds) / 1e12, result)
  }

  private func median(_ values: [Double]) -> Double {
    values.sorted()[values.count / 2]
  }
}
