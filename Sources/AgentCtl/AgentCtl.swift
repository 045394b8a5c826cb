import AgentCore
import AgentTelemetry
import AgentWire
import ArgumentParser
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SwiftProtobuf
import Tracing

/// `agentctl`: call, publish to and watch agents on a runtime-host, over its gRPC gateway
/// (`agents.gateway.v1.Gateway`).
@main
struct AgentCtl: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "agentctl",
    abstract: "Call, publish to and watch agents on a runtime-host (over its gRPC gateway).",
    discussion: """
      The server defaults to $AGENTCTL_SERVER or localhost:50051; the token to --token or
      $RUNTIME_HOST_AUTH_TOKEN (the variable runtime-host reads). Failures exit non-zero with the
      error on stderr.
      """,
    subcommands: [Agents.self, Call.self, Publish.self, Subscribe.self]
  )
}

/// Options every verb takes.
struct ServerOptions: ParsableArguments {
  @Option(name: .long, help: "The host's gRPC address (HOST:PORT).")
  var server: String = ProcessInfo.processInfo.environment["AGENTCTL_SERVER"] ?? "localhost:50051"

  @Option(name: .long, help: "Bearer token (default: $RUNTIME_HOST_AUTH_TOKEN).")
  var token: String?

  @Option(name: .long, help: "Verify the host's TLS certificate with this CA (PEM); enables TLS.")
  var tlsCA: String?

  @Flag(name: .long, help: "Use TLS, trusting the system's roots.")
  var tls = false

  /// Runs `body` with a gateway client, as the span `operation` (exported when `OTEL_*` asks for
  /// it; its trace context goes to the host, which passes it on to the agent); every failure,
  /// local or remote, is printed as `agentctl: error: …` and exits 1.
  func withGateway<T: Sendable>(
    _ operation: String,
    _ body: @Sendable (Agents_Gateway_V1_Gateway.Client<HTTP2ClientTransport.Posix>, Metadata) async throws -> T
  ) async throws -> T {
    try await reportingErrors {
      try await withTelemetry(serviceName: "agentctl") {
        try await withSpan(operation, ofKind: .client) { _ in try await connect(body) }
      }
    }
  }

  private func connect<T: Sendable>(
    _ body: @Sendable (Agents_Gateway_V1_Gateway.Client<HTTP2ClientTransport.Posix>, Metadata) async throws -> T
  ) async throws -> T {
    do {
      let address = try HostAddress(parsing: server)
      let security: HTTP2ClientTransport.Posix.TransportSecurity
      if tls || tlsCA != nil {
        security = .tls(.defaults { config in
          if let tlsCA { config.trustRoots = .certificates([.file(path: tlsCA, format: .pem)]) }
        })
      } else {
        security = .plaintext
      }
      var metadata: Metadata = [:]
      if let token = token ?? ProcessInfo.processInfo.environment["RUNTIME_HOST_AUTH_TOKEN"] {
        metadata.addString("Bearer \(token)", forKey: "authorization")
      }
      if let context = ServiceContext.current {
        InstrumentationSystem.instrument.inject(context, into: &metadata, using: MetadataInjector())
      }
      let transport = try HTTP2ClientTransport.Posix(
        target: .dns(host: address.host, port: address.port), transportSecurity: security)
      return try await withGRPCClient(transport: transport) { client in
        try await body(Agents_Gateway_V1_Gateway.Client(wrapping: client), metadata)
      }
    }
  }
}

/// Runs `body`; a failure is printed as `agentctl: error: [code] message` on stderr and exits 1.
func reportingErrors<T>(_ body: () async throws -> T) async throws -> T {
  do {
    return try await body()
  } catch let error as RPCError {
    printError("[\(error.code)] \(error.message)")
  } catch let error as AgentRuntimeError {
    printError("[\(error.code)] \(error.message)")
  } catch let error as ExitCode {
    throw error
  } catch let error as ValidationError {
    printError(error.message)
  } catch {
    printError("\(error)")
  }
  throw ExitCode(1)
}

func printError(_ text: String) {
  FileHandle.standardError.write(Data("agentctl: error: \(text)\n".utf8))
}

/// Prints one line and flushes, so a pipe sees each event at once.
func printLine(_ text: String) {
  FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

/// A JSON message from the command line: inline JSON, `@file`, or `-` for standard input.
func readMessage(_ argument: String) throws -> String {
  if argument == "-" {
    return String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
  }
  if argument.hasPrefix("@") {
    let path = String(argument.dropFirst())
    guard let data = FileManager.default.contents(atPath: path) else {
      throw ValidationError("cannot read the message file '\(path)'")
    }
    return String(decoding: data, as: UTF8.self)
  }
  return argument
}

/// A payload as one JSON line: JSON as it is, anything else as an envelope with base64 data.
func jsonLine(_ payload: Agents_Gateway_V1_Payload) -> String {
  switch payload.body {
  case .json(let text):
    return text.split(separator: "\n").joined(separator: " ")
  case .data(let data):
    return envelope(["type": payload.type, "contentType": payload.contentType, "data_base64": data.base64EncodedString()])
  case nil:
    return "null"
  }
}

func envelope(_ object: [String: Any]) -> String {
  let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("null".utf8)
  return String(decoding: data, as: UTF8.self)
}

struct Agents: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "List the agent types served, with their workers and subscriptions (and, in a cluster, the nodes serving each).",
    discussion: "Example: agentctl agents --server localhost:50051")

  @OptionGroup var options: ServerOptions

  func run() async throws {
    let types = try await options.withGateway("agentctl agents") { gateway, metadata in
      try await gateway.listAgentTypes(.init(), metadata: metadata).agentTypes
    }
    for type in types {
      let subscriptions = type.subscriptions.map { subscription -> String in
        switch subscription.filter {
        case .topicType(let topic)?: return topic
        case .topicTypePrefix(let prefix)?: return prefix + "*"
        case nil: return "?"
        }
      }
      let nodes = type.nodes.isEmpty ? "" : "\tnodes=\(type.nodes.joined(separator: ","))"
      printLine("\(type.type)\tworkers=\(type.workers)\tsubscriptions=\(subscriptions.joined(separator: ","))\(nodes)")
    }
  }
}

struct Call: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Call an agent and print its answer (JSON).",
    discussion: """
      Example: agentctl call oracle/default '{"text":"What is six times seven?"}' --type Question
      With --stream, each chunk the agent streams is printed on its own line before the answer.
      """)

  @OptionGroup var options: ServerOptions
  @Argument(help: "The agent: TYPE/KEY.") var agent: String
  @Argument(help: "The message: JSON, @file, or - for standard input.") var message: String
  @Option(name: .long, help: "The message type name the agent dispatches on.") var type: String
  @Option(name: .long, help: "Seconds to wait (default: the host's --rpc-timeout).") var timeout: Double?
  @Flag(name: .long, help: "Print the agent's streamed chunks as they arrive.") var stream = false

  func run() async throws {
    try await reportingErrors { try await call() }
  }

  private func call() async throws {
    let id = try AgentId(parsing: agent)
    let request = Agents_Gateway_V1_InvokeRequest.with {
      $0.agentType = id.type.name
      $0.agentKey = id.key
      $0.message = .with { message in
        message.type = type
      }
      $0.timeoutSeconds = timeout ?? 0
    }
    var call = request
    call.message.json = try readMessage(message)
    let invoke = call
    let streaming = stream
    try await options.withGateway("agentctl call \(request.agentType)") { gateway, metadata in
      if streaming {
        try await gateway.invokeStream(invoke, metadata: metadata) { response in
          for try await event in response.messages {
            switch event.event {
            case .chunk(let chunk)?: printLine(jsonLine(chunk))
            case .result(let result)?: printLine(result.hasResult ? jsonLine(result.result) : "null")
            case nil: continue
            }
          }
        }
      } else {
        let result = try await gateway.invoke(invoke, metadata: metadata)
        printLine(result.hasResult ? jsonLine(result.result) : "null")
      }
    }
  }
}

struct Publish: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Publish a message to a topic; prints each event id.",
    discussion: "Example: agentctl publish default/user-1 '{\"text\":\"Hello!\"}' --type Greeting --count 3")

  @OptionGroup var options: ServerOptions
  @Argument(help: "The topic: TYPE or TYPE/SOURCE (source defaults to 'default').") var topic: String
  @Argument(help: "The message: JSON, @file, or - for standard input.") var message: String
  @Option(name: .long, help: "The message type name.") var type: String
  @Option(name: .long, help: "How many times to publish it.") var count: Int = 1

  func validate() throws {
    guard count >= 1 else { throw ValidationError("--count must be at least 1") }
  }

  func run() async throws {
    try await reportingErrors { try await publish() }
  }

  private func publish() async throws {
    let parts = topic.split(separator: "/", maxSplits: 1)
    let topicId = try TopicId(type: String(parts[0]), source: parts.count > 1 ? String(parts[1]) : "default")
    var request = Agents_Gateway_V1_PublishRequest.with {
      $0.topicType = topicId.type
      $0.topicSource = topicId.source
      $0.message.type = type
    }
    request.message.json = try readMessage(message)
    let publish = request
    let count = self.count
    try await options.withGateway("agentctl publish \(publish.topicType)") { gateway, metadata in
      for _ in 0..<count {
        printLine(try await gateway.publish(publish, metadata: metadata).id)
      }
    }
  }
}

struct Subscribe: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Print the events published on a topic, one JSON line each (pipe into jq).",
    discussion: "Example: agentctl subscribe news --prefix --count 10 | jq .data")

  @OptionGroup var options: ServerOptions
  @Argument(help: "The topic type (or prefix, with --prefix).") var topicType: String
  @Flag(name: .long, help: "Match every topic type starting with the argument.") var prefix = false
  @Option(name: .long, help: "Only events with this topic source.") var source: String?
  @Option(name: .long, help: "Stop after this many events.") var count: Int?
  @Option(name: .long, help: "First replay what the host still holds after this sequence number.") var after: UInt64?

  func run() async throws {
    let request = Agents_Gateway_V1_SubscribeRequest.with {
      $0.topicType = topicType
      $0.prefix = prefix
      if let source { $0.source = source }
      if let after { $0.afterSequence = after }
    }
    let limit = count
    try await options.withGateway("agentctl subscribe \(request.topicType)") { gateway, metadata in
      try await gateway.subscribe(request, metadata: metadata) { response in
        var seen = 0
        for try await event in response.messages {
          var object: [String: Any] = [
            "sequence": event.sequence, "topic": ["type": event.topicType, "source": event.topicSource],
            "id": event.id, "type": event.message.type,
          ]
          if !event.senderType.isEmpty { object["sender"] = "\(event.senderType)/\(event.senderKey)" }
          switch event.message.body {
          case .json(let text):
            object["data"] = (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed)) ?? text
          case .data(let data):
            object["data_base64"] = data.base64EncodedString()
          case nil:
            break
          }
          printLine(envelope(object))
          seen += 1
          if let limit, seen >= limit { return }
        }
      }
    }
  }
}

/// Writes trace headers into gRPC metadata.
struct MetadataInjector: Injector {
  func inject(_ value: String, forKey key: String, into metadata: inout Metadata) {
    metadata.replaceOrAddString(value, forKey: key)
  }
}
