// A Swift worker for the interop tests (Tests/Interop/test_interop.py), driven by Python.
//
//   interop-peer --host HOST:PORT[,HOST:PORT…]
//
// Hosts two agent types and prints "ready" on stdout once both are registered, and "reconnected"
// each time it has reconnected to a host (and registered again) after losing one:
// - swift_echo: on an InteropMessage published to "interop.json" it publishes
//   InteropMessage("swift got <text>", count + 1) to "interop.reply" (same source); on a
//   StringValue published to "interop.proto" it publishes StringValue("SWIFT GOT <value>") there too.
//   RPC: InteropQuestion -> InteropAnswer; the text "fail" makes the handler throw, "hang" makes it
//   print "hanging" and never answer.
// - swift_driver: RPC Command -> CommandResult; runs the command (ask a Python agent, publish) so
//   the Python side can test Swift-to-Python traffic.
// - swift_ledger: a stateful agent (its state in the host's store) for the failover and restart
//   tests (test_state.py): RPC LedgerAdd(id) counts each id once (its idempotency key) and answers
//   LedgerTotal(count, applied, worker); LedgerQuery answers the total. `--name` names the worker.
// With `--publish-series N`, once ready it publishes InteropMessage("series", i) for i in 1...N to
// "interop.reply" (source "series"), one every `--publish-interval-ms`, whatever happens to its
// host (a publish made while disconnected is buffered), then prints "published N".
import AgentCore
import AgentWire
import AgentTelemetry
import ArgumentParser
import Foundation
import GrpcWorker
import Logging
import SwiftProtobuf
import Synchronization
import UnixSignals

// Same names and fields as the Python dataclasses in test_interop.py.
struct InteropMessage: Codable, Sendable {
  var text: String
  var count: Int
}

struct InteropQuestion: Codable, Sendable {
  var text: String
}

struct InteropAnswer: Codable, Sendable {
  var text: String
  var source: String
}

struct InteropSilent: Codable, Sendable {
  var text: String
}

/// A partial answer a Python agent streams (see StreamedCallWire).
struct InteropChunk: Codable, Sendable {
  var text: String
}

struct Command: Codable, Sendable {
  var action: String
  var target_type: String
  var target_key: String
  var text: String
  var timeout_ms: Int
}

struct CommandResult: Codable, Sendable {
  var ok: Bool
  var text: String
  var elapsed_ms: Int
}

struct LedgerAdd: Codable, Sendable {
  var id: String
  /// How long the handler works (sleeps) before it counts, so that a kill can land mid-handler.
  var work_ms: Int?
}

struct LedgerQuery: Codable, Sendable {}

struct LedgerTotal: Codable, Sendable {
  var count: Int
  /// False when this id had been counted already (a caller's retry after a lost answer).
  var applied: Bool
  var ids: Int
  var worker: String
}

/// Counts each `LedgerAdd` id once, in durable state.
actor SwiftLedger: RoutedAgent, StatefulAgent {
  struct State: Codable, Sendable {
    var count = 0
    var ids: Set<String> = []
  }
  nonisolated let id: AgentId
  let worker: String
  var state = State()
  init(id: AgentId, worker: String) {
    self.id = id
    self.worker = worker
  }

  static func registerHandlers(_ router: inout MessageRouter<SwiftLedger>) {
    router.onRPC(LedgerAdd.self) { agent, add, _ in
      if let work = add.work_ms { try await Task.sleep(for: .milliseconds(work)) }
      let applied = agent.state.ids.insert(add.id).inserted
      if applied { agent.state.count += 1 }
      return agent.total(applied: applied)
    }
    router.onRPC(LedgerQuery.self) { agent, _, _ in agent.total(applied: false) }
  }

  func total(applied: Bool) -> LedgerTotal {
    LedgerTotal(count: state.count, applied: applied, ids: state.ids.count, worker: worker)
  }
}

struct DeliberateFailure: Error, CustomStringConvertible {
  var text: String
  var description: String { "swift handler failed on purpose: \(text)" }
}

actor SwiftEcho: RoutedAgent {
  nonisolated let id: AgentId
  let runtime: any AgentRuntime
  init(id: AgentId, runtime: any AgentRuntime) {
    self.id = id
    self.runtime = runtime
  }

  static func registerHandlers(_ router: inout MessageRouter<SwiftEcho>) {
    router.onEvent(InteropMessage.self) { agent, message, context in
      try await agent.runtime.publish(
        InteropMessage(text: "swift got \(message.text)", count: message.count + 1),
        to: try TopicId(type: "interop.reply", source: context.topic!.source))
    }
    router.onEvent(Google_Protobuf_StringValue.self) { agent, message, context in
      try await agent.runtime.publish(
        Google_Protobuf_StringValue.with { $0.value = "SWIFT GOT \(message.value)" },
        to: try TopicId(type: "interop.reply", source: context.topic!.source))
    }
    router.onRPC(InteropQuestion.self) { agent, question, _ in
      Logger(label: "interop-peer.echo").info("question", metadata: ["text": "\(question.text)"])
      if question.text == "fail" { throw DeliberateFailure(text: question.text) }
      if question.text == "hang" {
        // Never answers: for killing this worker mid-RPC.
        FileHandle.standardOutput.write(Data("hanging\n".utf8))
        try await Task.sleep(for: .seconds(3600))
      }
      return InteropAnswer(text: "swift answers \(question.text)", source: agent.id.description)
    }
  }
}

actor SwiftDriver: RoutedAgent {
  nonisolated let id: AgentId
  let runtime: any AgentRuntime
  init(id: AgentId, runtime: any AgentRuntime) {
    self.id = id
    self.runtime = runtime
  }

  static func registerHandlers(_ router: inout MessageRouter<SwiftDriver>) {
    router.onRPC(Command.self) { agent, command, _ in
      // Inside the handler's span: with trace export on, the line carries its trace and span ids.
      Logger(label: "interop-peer.driver").info("command", metadata: ["action": "\(command.action)"])
      let started = ContinuousClock.now
      func result(_ ok: Bool, _ text: String) -> CommandResult {
        let elapsed = ContinuousClock.now - started
        return CommandResult(ok: ok, text: text, elapsed_ms: Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000))
      }
      do {
        let target = try AgentId(type: command.target_type, key: command.target_key)
        let timeout = Duration.milliseconds(command.timeout_ms)
        switch command.action {
        case "ask_json":
          let answer = try await agent.runtime.send(
            InteropQuestion(text: command.text), to: target, returning: InteropAnswer.self, timeout: timeout)
          return result(true, "\(answer.text) | from \(answer.source)")
        case "ask_stream":
          // A streamed call: every chunk in order, then the typed answer.
          let chunks = Mutex<[String]>([])
          let answer = try await agent.runtime.send(
            InteropQuestion(text: command.text), to: target, returning: InteropAnswer.self, timeout: timeout,
            onChunk: { chunk in chunks.withLock { $0.append((chunk as? InteropChunk)?.text ?? "unexpected \(chunk)") } })
          return result(true, "chunks: \(chunks.withLock { $0 }.joined(separator: ",")) | \(answer.text)")
        case "ask_silent":
          try await agent.runtime.send(InteropSilent(text: command.text), to: target, timeout: timeout)
          return result(true, "answered")
        case "ask_proto":
          let answer = try await agent.runtime.send(
            Google_Protobuf_StringValue.with { $0.value = command.text }, to: target,
            returning: Google_Protobuf_StringValue.self, timeout: timeout)
          return result(true, answer.value)
        case "publish_json":
          try await agent.runtime.publish(
            InteropMessage(text: command.text, count: 1), to: try TopicId(type: command.target_type, source: command.target_key))
          return result(true, "published")
        case "publish_proto":
          try await agent.runtime.publish(
            Google_Protobuf_StringValue.with { $0.value = command.text },
            to: try TopicId(type: command.target_type, source: command.target_key))
          return result(true, "published")
        default:
          return result(false, "unknown action \(command.action)")
        }
      } catch let error as AgentRuntimeError {
        return result(false, "[\(error.code)] \(error.message)")
      }
    }
  }
}

@main
struct InteropPeer: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "interop-peer")

  @Option(help: "The host, HOST:PORT; several, comma-separated, to fail over between the nodes of a cluster.")
  var host: String

  @Option(help: "Once ready, publish this many InteropMessages to interop.reply/series, then print 'published N'.")
  var publishSeries = 0

  @Option(help: "Milliseconds between the publishes of --publish-series.")
  var publishIntervalMs = 10

  @Option(help: "This worker's name in LedgerTotal answers.")
  var name = "swift"

  @Option(help: "The level of the lines logged on stderr: info shows each command and question (the worker's own at warning at most).")
  var logLevel: String = "warning"

  @Option(help: "The format of the lines logged on stderr: json or text.")
  var logFormat: String = "json"

  func run() async throws {
    var serializers = SerializationRegistry()
    for type in [InteropMessage.self, InteropQuestion.self, InteropAnswer.self, InteropSilent.self, InteropChunk.self, Command.self, CommandResult.self] as [any (Codable & Sendable).Type] {
      register(type, in: &serializers)
    }
    serializers.registerProtobuf(Google_Protobuf_StringValue.self)
    guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("unknown log level '\(logLevel)'") }
    guard ["json", "text"].contains(logFormat) else { throw ValidationError("--log-format is json or text") }
    let json = logFormat == "json"
    // With trace export on, lines logged inside a span carry its trace and span ids.
    LoggingSystem.bootstrap(
      { label, metadataProvider in
        if json {
          var handler = JSONLogHandler(label: label, metadataProvider: metadataProvider)
          handler.logLevel = level
          return handler
        }
        var handler = StreamLogHandler.standardError(label: label, metadataProvider: metadataProvider)
        handler.logLevel = level
        return handler
      }, metadataProvider: Telemetry.loggingMetadataProvider())
    var workerLogger = Logger(label: "interop-peer")
    workerLogger.logLevel = max(level, .warning)
    let logger = workerLogger
    let registry = serializers
    var configuration = try GrpcWorkerRuntime.Configuration(host: self.host)
    configuration.defaultRPCTimeout = .seconds(20)
    let series = publishSeries
    let workerConfiguration = configuration
    let interval = Duration.milliseconds(publishIntervalMs)
    // OTEL_* in the environment turns on trace export (the tracing interop test sets it); the
    // worker is created inside, so that it traces.
    try await withTelemetry(serviceName: "interop-peer") {
    let worker = GrpcWorkerRuntime(configuration: workerConfiguration, serializers: registry, logger: logger)
    let events = worker.connectionEvents()
    try await withThrowingDiscardingTaskGroup { group in
      group.addTask { try await worker.run() }
      group.addTask {
        var connections = 0
        for await case .connected in events {
          connections += 1
          if connections > 1 { FileHandle.standardOutput.write(Data("reconnected\n".utf8)) }
        }
      }
      try await worker.register(AgentType("swift_echo"), subscriptions: [.type("interop.json"), .type("interop.proto")]) {
        id, runtime in SwiftEcho(id: id, runtime: runtime)
      }
      try await worker.register(AgentType("swift_driver")) { id, runtime in SwiftDriver(id: id, runtime: runtime) }
      let name = self.name
      try await worker.register("swift_ledger") { id, _ in SwiftLedger(id: id, worker: name) }
      FileHandle.standardOutput.write(Data("ready\n".utf8))
      if series > 0 {
        group.addTask {
          for index in 1...series {
            try await worker.publish(InteropMessage(text: "series", count: index), to: try TopicId(type: "interop.reply", source: "series"))
            try await Task.sleep(for: interval)
          }
          FileHandle.standardOutput.write(Data("published \(series)\n".utf8))
        }
      }
      group.addTask {
        for await _ in await UnixSignalsSequence(trapping: .sigint, .sigterm) {
          worker.shutdown()
          return
        }
      }
    }
    }
  }
}

func register<T: Codable & Sendable>(_ type: T.Type, in serializers: inout SerializationRegistry) {
  serializers.registerJSON(type)
}
