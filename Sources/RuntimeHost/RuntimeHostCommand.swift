import AgentCore
import AgentWire
import AgentTelemetry
public import ArgumentParser
import Foundation
import GrpcHost
import HostCluster
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import UnixSignals

/// `runtime-host`: the host daemon.
///
///     runtime-host --address localhost:50051
///
/// The first line on stdout is `runtime-host listening on HOST:PORT`, flushed, so scripts can start
/// it with port 0 and read the real port. Logs go to stderr. SIGINT and SIGTERM shut it down
/// gracefully: it stops accepting, answers pending RPCs with an error, closes streams, and exits 0.
@main
struct RuntimeHostCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "runtime-host",
    abstract: "Routes messages between agent workers (the agents.AgentRpc gRPC protocol)."
  )

  @Option(help: "Address to listen on, host:port (default: $RUNTIME_HOST_ADDRESS, else localhost:50051). Port 0 picks a free port.")
  var address: String?

  /// `--address`, else `$RUNTIME_HOST_ADDRESS`, else localhost:50051.
  var listenAddress: String {
    address ?? ProcessInfo.processInfo.environment["RUNTIME_HOST_ADDRESS"] ?? "localhost:50051"
  }

  @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
  var logLevel: Logger.Level = .info

  @Option(help: "Log format on stderr: text, or json (one object per line).")
  var logFormat: LogFormat = .text

  @Option(help: "Serve HTTP at HOST:PORT: the gateway (/v1: call, publish, watch agents), /healthz, /metrics, /openapi.json (port 0 picks one; printed on stdout's second line).")
  var httpAddress: String?

  @Option(help: "Another name for --http-address (the HTTP listener serves /metrics).")
  var metricsAddress: String?

  @Option(help: "Seconds the host waits for an RPC's response before answering the caller with an error.")
  var rpcTimeout: Double = 60

  @Option(help: "Largest message routed, in bytes; larger ones are answered with RESOURCE_EXHAUSTED errors (frames over twice this reset their stream).")
  var maxMessageSize: Int = 4 * 1024 * 1024

  @Option(help: "Require 'authorization: Bearer <token>' on every call (or set RUNTIME_HOST_AUTH_TOKEN).")
  var authToken: String?

  @Option(help: "With trace export on (OTEL_* variables, see README, Tracing): the fraction of publishes the host makes a span for, 0 to 1 (every routed RPC gets one).")
  var tracePublishRatio: Double = 1

  @Option(help: "Identities and their permissions: by the SHA-256 of their tokens, their client certificates' subjects, or JWTs from trusted keys (JSON; see README, Security). Each may serve, publish, watch and call only what it lists. Reloaded on SIGHUP and when the file changes.")
  var authFile: String?

  @Option(help: "Serve TLS with this PEM certificate chain (with --tls-key).")
  var tlsCert: String?

  @Option(help: "The PEM private key of --tls-cert.")
  var tlsKey: String?

  @Option(help: "Require mutual TLS: workers must present a certificate signed by a CA in this PEM file.")
  var tlsClientCa: String?

  @Option(help: "Event loop threads for the gRPC listener (default: one per core). 1 keeps all routing on one thread: less CPU per message and lower latency on small machines, one core's throughput.")
  var eventLoopThreads: Int?

  @Option(help: "Where to keep stateful agents' state: memory (default: survives a worker's crash, not the host's restart), sqlite:PATH (a file; survives restarts), postgres://USER[:PASSWORD]@HOST[:PORT]/DB (shared), or none (or set RUNTIME_HOST_STATE_STORE).")
  var stateStore: String?

  @Option(help: "Largest state one agent may save, in bytes; larger saves are refused.")
  var maxStateSize: Int = 1024 * 1024

  @Option(help: "Join a cluster of hosts that act as one bus, sharing a directory in this PostgreSQL database: postgres://USER[:PASSWORD]@HOST[:PORT]/DB (or set RUNTIME_HOST_CLUSTER). Workers may connect to any node.")
  var cluster: String?

  @Option(help: "With --cluster: this node's name, unique in the cluster (default: the advertised address).")
  var nodeName: String?

  @Option(help: "With --cluster: where the other nodes reach this node's gRPC port, HOST:PORT (default: --address, which then may not use port 0).")
  var advertiseAddress: String?

  @Option(help: "With --cluster: the PostgreSQL schema holding the cluster's directory (one cluster per schema).")
  var clusterSchema = "public"

  @Option(help: "With --cluster: seconds a node stays a member without renewing its lease; a node silent for longer is removed and its agent instances are placed again elsewhere.")
  var clusterLease: Double = 3

  @Option(help: "With --cluster: the token this node presents to the other nodes (or set RUNTIME_HOST_CLUSTER_TOKEN; default: --auth-token). It needs every permission.")
  var clusterToken: String?

  @Option(help: "With --cluster and TLS: PEM CA certificates that sign the other nodes' certificates (this node presents --tls-cert to them).")
  var clusterCa: String?

  @Flag(help: "Let the transport delay flushes to coalesce writes (more throughput for pipelined traffic, more latency per RPC).")
  var flushCoalescing = false

  func validate() throws {
    guard httpAddress == nil || metricsAddress == nil || httpAddress == metricsAddress else {
      throw ValidationError("--metrics-address is another name for --http-address: give one")
    }
    guard rpcTimeout > 0 else { throw ValidationError("--rpc-timeout must be positive") }
    guard eventLoopThreads.map({ $0 > 0 }) ?? true else { throw ValidationError("--event-loop-threads must be positive") }
    guard maxMessageSize > 0 else { throw ValidationError("--max-message-size must be positive") }
    guard maxStateSize > 0 else { throw ValidationError("--max-state-size must be positive") }
    do {
      _ = try StateStoreChoice(stateStoreSetting)
    } catch {
      throw ValidationError(error.message)
    }
    guard (0...1).contains(tracePublishRatio) else { throw ValidationError("--trace-publish-ratio must be between 0 and 1") }
    guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
    guard tlsClientCa == nil || tlsCert != nil else { throw ValidationError("--tls-client-ca needs --tls-cert and --tls-key") }
    for path in [tlsCert, tlsKey, tlsClientCa].compactMap({ $0 }) where !FileManager.default.isReadableFile(atPath: path) {
      throw ValidationError("cannot read '\(path)'")
    }
    guard clusterLease >= 0.5 else { throw ValidationError("--cluster-lease must be at least 0.5 seconds") }
    if clusterSetting == nil, nodeName != nil || advertiseAddress != nil {
      throw ValidationError("--node-name and --advertise-address go with --cluster")
    }
    if clusterSetting != nil, advertiseAddress == nil, (try? HostAddress(parsing: listenAddress))?.port == 0 {
      throw ValidationError("--cluster with port 0 in --address needs --advertise-address: the other nodes must know the port")
    }
    do {
      _ = try HostAddress(parsing: listenAddress)
      _ = try metricsAddress.map(HostAddress.init(parsing:))
      _ = try httpAddress.map(HostAddress.init(parsing:))
    } catch {
      throw ValidationError(error.message)
    }
  }

  func run() async throws {
    let level = logLevel
    let format = logFormat
    // With trace export on, lines logged inside a span carry its trace and span ids.
    LoggingSystem.bootstrap(
      { label, metadataProvider in
        switch format {
        case .text:
          var handler = StreamLogHandler.standardError(label: label, metadataProvider: metadataProvider)
          handler.logLevel = level
          return handler
        case .json:
          var handler = JSONLogHandler(label: label, metadataProvider: metadataProvider)
          handler.logLevel = level
          return handler
        }
      }, metadataProvider: Telemetry.loggingMetadataProvider())
    // OTEL_* in the environment turns on trace export, installed before the host exists: the host
    // traces with the tracer installed when it is created. Its exporter shuts down last, to flush.
    let telemetry = try Telemetry.bootstrapTracing(serviceName: "runtime-host").map { [$0] } ?? []
    let logger = Logger(label: "runtime-host")
    var configuration = AgentHost.Configuration(
      address: try HostAddress(parsing: listenAddress),
      rpcTimeout: .milliseconds(Int64(rpcTimeout * 1000)),
      maxMessageSize: maxMessageSize,
      flushCoalescing: flushCoalescing,
      authToken: authToken ?? ProcessInfo.processInfo.environment["RUNTIME_HOST_AUTH_TOKEN"]
    )
    configuration.httpAddress = try (httpAddress ?? metricsAddress).map(HostAddress.init(parsing:))
    configuration.eventLoopThreads = eventLoopThreads
    if let tlsCert, let tlsKey {
      configuration.tls = .init(certificateChainPath: tlsCert, privateKeyPath: tlsKey, clientCertificateTrustRootsPath: tlsClientCa)
    }
    configuration.maxStateSize = maxStateSize
    configuration.tracePublishRatio = tracePublishRatio
    var authFileContents: Data?
    if let authFile {
      do {
        authFileContents = try Data(contentsOf: URL(fileURLWithPath: authFile))
        configuration.credentials = try await Credentials.parse(
          authFileContents!, source: authFile, directory: URL(fileURLWithPath: authFile).deletingLastPathComponent().path)
      } catch let error as AgentRuntimeError {
        throw ValidationError(error.message)
      } catch {
        throw ValidationError("cannot read the credentials file '\(authFile)': \(error.localizedDescription)")
      }
    }
    let store = try await StateStoreChoice(stateStoreSetting).open()
    configuration.stateStore = store.store
    var directoryServices: [any Service] = []
    if let url = clusterSetting {
      let advertised = try advertiseAddress.map(HostAddress.init(parsing:)) ?? HostAddress(parsing: listenAddress).loopbackAsIPv4
      var settings = ClusterDirectory.Configuration(url: url, nodeName: nodeName ?? advertised.description, address: advertised.description)
      settings.schema = clusterSchema
      settings.lease = .milliseconds(Int64(clusterLease * 1000))
      settings.heartbeatInterval = .milliseconds(Int64(clusterLease * 1000 / 3))
      let directory: ClusterDirectory
      do {
        directory = try ClusterDirectory(configuration: settings, logger: Logger(label: "agents.cluster"))
      } catch {
        throw ValidationError(error.message)
      }
      configuration.cluster = .init(
        directory: directory,
        peerToken: clusterToken ?? ProcessInfo.processInfo.environment["RUNTIME_HOST_CLUSTER_TOKEN"] ?? configuration.authToken,
        peerTrustRootsPath: clusterCa)
      // The pool outlives the directory, which outlives the host (shutdown runs in reverse order).
      directoryServices = [directory.pool, directory]
    }
    let host = AgentHost(configuration: configuration, logger: Logger(label: "agents.host"))
    // Metrics recorded through swift-metrics in this process are served with the host's own.
    MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: host.metricsRegistry))
    // The credentials file is reloaded on SIGHUP and when it changes.
    var watchers: [any Service] = []
    if let authFile, let authFileContents {
      let watcher = CredentialsFileWatcher(path: authFile, host: host, logger: Logger(label: "agents.host.credentials"))
      watcher.loaded(authFileContents)
      watchers.append(watcher)
    }
    let group = ServiceGroup(
      configuration: .init(
        // Shut down in reverse order: the watcher and the host first, then the cluster's directory
        // (the node leaves), then the state store, then telemetry.
        services: telemetry + store.services + directoryServices + [host] + watchers,
        gracefulShutdownSignals: [.sigterm, .sigint],
        logger: logger
      )
    )
    do {
      try await serve(host, in: group)
    } catch {
      await store.close()
      throw error
    }
    await store.close()
  }

  private func serve(_ host: AgentHost, in group: ServiceGroup) async throws {
    try await withThrowingDiscardingTaskGroup { tasks in
      tasks.addTask { try await group.run() }
      tasks.addTask {
        let address = try await host.listeningAddress()
        // Unbuffered, so a parent process reading a pipe sees it at once.
        FileHandle.standardOutput.write(Data("runtime-host listening on \(address)\n".utf8))
        if host.configuration.httpAddress != nil {
          let http = try await host.httpAddress()
          let scheme = host.configuration.tls == nil ? "http" : "https"
          FileHandle.standardOutput.write(Data("runtime-host http on \(scheme)://\(http) (gateway /v1, /metrics, /healthz)\n".utf8))
        }
      }
    }
  }
}

extension RuntimeHostCommand {
  /// `--cluster`, else `$RUNTIME_HOST_CLUSTER`.
  var clusterSetting: String? {
    cluster ?? ProcessInfo.processInfo.environment["RUNTIME_HOST_CLUSTER"]
  }

  /// `--state-store`, else `$RUNTIME_HOST_STATE_STORE`, else memory.
  var stateStoreSetting: String {
    stateStore ?? ProcessInfo.processInfo.environment["RUNTIME_HOST_STATE_STORE"] ?? "memory"
  }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

enum LogFormat: String, ExpressibleByArgument, CaseIterable {
  case text
  case json
}
