// A worker process for the examples; scripts/demo.sh runs them against runtime-host.
//
//   example-worker hello  --host localhost:50051 --name worker1 [--say-hello]
//   example-worker oracle --host localhost:50051
//   example-worker ask    --host localhost:50051 --question "What is six times seven?"
//
// Each prints "ready" on stderr once registered with the host, and its results on stdout.
import AgentCore
import AgentTelemetry
import ArgumentParser
import ExampleAgents
import Foundation
import GrpcWorker
import Logging
import UnixSignals

@main
struct ExampleWorker: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "example-worker",
    abstract: "Example agents on a gRPC worker.",
    subcommands: [Hello.self, OracleWorker.self, Ask.self]
  )
}

struct Options: ParsableArguments {
  @Option(help: "The host, HOST:PORT; several, comma-separated, to fail over among.")
  var host: String = "localhost:50051"

  @Option(help: "Connect with TLS, trusting the CA certificates in this PEM file.")
  var tlsCa: String?

  @Option(help: "For mutual TLS: this worker's PEM certificate chain (with --tls-key).")
  var tlsCert: String?

  @Option(help: "For mutual TLS: the PEM private key of --tls-cert.")
  var tlsKey: String?

  @Option(help: "The bearer token the host requires (or set RUNTIME_HOST_AUTH_TOKEN).")
  var authToken: String?

  var configuration: GrpcWorkerRuntime.Configuration {
    get throws {
      var configuration = try GrpcWorkerRuntime.Configuration(host: host)
      configuration.defaultRPCTimeout = .seconds(10)
      if tlsCa != nil || tlsCert != nil {
        configuration.tls = .init(trustRootsPath: tlsCa, certificateChainPath: tlsCert, privateKeyPath: tlsKey)
      }
      configuration.authToken = authToken ?? ProcessInfo.processInfo.environment["RUNTIME_HOST_AUTH_TOKEN"]
      return configuration
    }
  }
}

func quietLogger() -> Logger {
  var logger = Logger(label: "example-worker")
  logger.logLevel = .warning
  return logger
}

/// Writes a line to stdout unbuffered, so output of several processes interleaves in real order.
func say(_ line: String) {
  FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func ready(_ what: String) {
  FileHandle.standardError.write(Data("ready: \(what)\n".utf8))
}

struct Hello: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Hosts a Greeter named after the worker, subscribed to the default topic; exits after it published 5 times.")

  @OptionGroup var options: Options
  @Option(help: "The agent type of this worker's greeter.")
  var name: String
  @Flag(help: "Publish \"Hello!\" to the default topic once registered.")
  var sayHello = false

  func run() async throws {
    let type = try AgentType(name)
    let (done, doneContinuation) = AsyncStream<AgentId>.makeStream()
    let sayHello = self.sayHello
    let configuration = try options.configuration
    try await withTelemetry(serviceName: "example-worker") {
    try await withGrpcWorker(configuration: configuration, serializers: exampleSerializers, logger: quietLogger()) { worker in
      try await worker.register(type, subscriptions: [.defaultTopic]) { id, runtime in
        Greeter(id: id, runtime: runtime, say: say, done: { doneContinuation.yield($0) })
      }
      ready(type.name)
      if sayHello {
        try await worker.publish(Greeting(text: "Hello!"), to: .default())
      }
      for await _ in done { break }
    }
    }
  }
}

struct OracleWorker: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "oracle", abstract: "Hosts the oracle agent until interrupted (SIGINT/SIGTERM).")

  @OptionGroup var options: Options

  func run() async throws {
    let configuration = try options.configuration
    // The worker traces with the tracer installed when it is created: inside withTelemetry.
    try await withTelemetry(serviceName: "example-worker") {
    let worker = GrpcWorkerRuntime(configuration: configuration, serializers: exampleSerializers, logger: quietLogger())
    try await withThrowingDiscardingTaskGroup { group in
      group.addTask { try await worker.run() }
      try await worker.register(AgentType("oracle")) { id, _ in Oracle(id: id) }
      ready("oracle")
      // Serve until SIGINT or SIGTERM, then shut down gracefully.
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

struct Ask: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Asks the oracle a question over RPC, then shows what a caller sees for an unknown agent type.")

  @OptionGroup var options: Options
  @Option(help: "The question.")
  var question: String = "What is six times seven?"

  func run() async throws {
    let question = self.question
    try await withGrpcWorker(configuration: try options.configuration, serializers: exampleSerializers, logger: quietLogger()) { worker in
      let answer = try await worker.send(
        Question(text: question), to: try AgentId(type: "oracle", key: "default"), returning: Answer.self)
      say("asked oracle/default: \(question)")
      say("typed answer: \(answer.text) (confidence \(answer.confidence))")
      do {
        _ = try await worker.send(Question(text: question), to: try AgentId(type: "nobody", key: "default"), returning: Answer.self)
        say("unexpected: the unknown agent type answered")
      } catch let error as AgentRuntimeError {
        say("asking an unknown agent type fails at once: [\(error.code)] \(error.message)")
      }
      do {
        _ = try await worker.send(Question(text: ""), to: try AgentId(type: "oracle", key: "default"), returning: Answer.self)
      } catch let error as AgentRuntimeError {
        say("an empty question comes back as the remote error: [\(error.code)] \(error.message)")
      }
    }
  }
}
