public import AgentCore
import AgentWire
public import Foundation
public import GRPCCore
import Logging

extension GrpcWorkerRuntime {
  /// Worker settings.
  public struct Configuration: Sendable {
    /// The host to connect to.
    public var host: HostAddress
    /// Hosts to fail over to, in order, after ``host``: the nodes of a cluster. After losing its
    /// host, or failing to reach it, the worker tries the next address in ``hosts`` (then the
    /// first again), registers there and sends what it buffered meanwhile. Empty by default. A DNS
    /// name that resolves to several addresses fails over among them too (gRPC tries each).
    public var fallbackHosts: [HostAddress] = []
    /// ``host``, then ``fallbackHosts``: every host the worker may connect to, in order.
    public var hosts: [HostAddress] { [host] + fallbackHosts }
    /// "the host A", or "any of the hosts A, B", for messages.
    var hostsDescription: String {
      fallbackHosts.isEmpty ? "the host \(host)" : "any of the hosts \(hosts.map(\.description).joined(separator: ", "))"
    }
    /// How long a send waits for its response when the call gives no timeout; also the bound on
    /// registration calls. Default 60 s.
    public var defaultRPCTimeout: Duration
    /// How long to wait for the host to acknowledge the channel before registering anyway.
    /// `runtime-host` acknowledges at once; AutoGen's host only with its first message.
    public var channelReadyTimeout: Duration
    /// How long handlers still running at shutdown may take before they are cancelled. Default 10 s.
    public var shutdownGracePeriod: Duration
    /// After shutdown closes this worker's side of the channel, how long to wait for the host to
    /// close its side before dropping the connection. (AutoGen's host never does.) Default 2 s.
    public var closeTimeout: Duration = .seconds(2)
    /// Sent as `authorization: Bearer <token>` on every call, for a host that requires it.
    public var authToken: String?
    /// How the worker reconnects after losing the host. `nil`: it does not; the first loss ends
    /// ``GrpcWorkerRuntime/run()`` with `AgentRuntimeError/Code/unavailable`.
    public var reconnect: ReconnectPolicy? = ReconnectPolicy()
    /// How many publishes the worker keeps while it is not connected; they are sent, in order,
    /// once it has reconnected and registered again. Past this, `publish` throws
    /// `AgentRuntimeError/Code/resourceExhausted`. Default 10,000.
    public var maxBufferedPublishes: Int = 10_000
    /// The largest payload, in bytes, the worker sends or accepts. A larger outgoing message is
    /// refused locally with `AgentRuntimeError/Code/resourceExhausted` (nothing is sent);
    /// a handler result that is too large is answered with that error. Keep it at or below the
    /// host's limit. Default 4 MiB.
    public var maxMessageSize: Int = 4 * 1024 * 1024
    /// TLS settings; `nil` for plaintext.
    public var tls: TLS?
    /// How often the worker pings an idle connection to notice a host that vanished without
    /// closing it (a network partition, a machine gone); it reconnects when a ping goes
    /// unanswered for 20 s. gRPC servers refuse pings more often than every 5 minutes on a quiet
    /// connection by default (and close it), so keep it at 5 minutes unless the host allows
    /// more. `nil` turns pings off. Default 5 minutes.
    public var keepaliveInterval: Duration? = .seconds(300)
    /// How the worker reaches ``host``: HTTP/2 over TCP (the default), or another gRPC client
    /// transport, such as the in-process one the `AgentRuntimeTesting` product uses.
    public var transport: Transport = .http2
    /// The level of the worker's own log lines (connecting, registered, reconnecting) when
    /// ``GrpcWorkerRuntime`` makes its logger: `withGrpcWorkerUntilSignal` does, with this
    /// level, unless given a `Logger`. Default `info`; `RUNTIME_WORKER_LOG_LEVEL` sets it for
    /// ``init(host:)`` and ``fromEnvironment(defaultHost:_:)``.
    public var logLevel: LogLevel = .info
    /// Where this worker's `StatefulAgent`s keep their state. Default: the host's store
    /// (``StateStorage/host``), which survives this worker's crash: the instance's next worker
    /// loads it.
    public var stateStorage: StateStorage = .host
    /// How long one load or save of an agent's state may take before the handler fails with
    /// `AgentRuntimeError/Code/unavailable`. Default 10 s.
    public var stateTimeout: Duration = .seconds(10)

    /// Creates a configuration.
    public init(
      host: HostAddress,
      defaultRPCTimeout: Duration = .seconds(60),
      channelReadyTimeout: Duration = .seconds(1),
      shutdownGracePeriod: Duration = .seconds(10)
    ) {
      self.host = host
      self.defaultRPCTimeout = defaultRPCTimeout
      self.channelReadyTimeout = channelReadyTimeout
      self.shutdownGracePeriod = shutdownGracePeriod
    }

    /// Creates a configuration for the host at `address` (`host:port`, IPv6 in brackets; several,
    /// comma-separated, for a cluster: the first is ``host``, the rest ``fallbackHosts``), with the
    /// token from `RUNTIME_HOST_AUTH_TOKEN` if that is set, as `runtime-host` reads it.
    ///
    /// - Throws: `AgentRuntimeError` (invalid argument) naming `address` when it is not `host:port`.
    public init(host address: String) throws(AgentRuntimeError) {
      let hosts = try Self.hosts(parsing: address)
      self.init(host: hosts[0])
      fallbackHosts = Array(hosts.dropFirst())
      try applyEnvironment(ProcessInfo.processInfo.environment)
    }

    /// `HOST:PORT[,HOST:PORT…]`: at least one address.
    static func hosts(parsing text: String) throws(AgentRuntimeError) -> [HostAddress] {
      var hosts: [HostAddress] = []
      for part in text.split(separator: ",", omittingEmptySubsequences: false) {
        hosts.append(try HostAddress(parsing: part.trimmingCharacters(in: .whitespaces)))
      }
      return hosts
    }

    /// A configuration from the `RUNTIME_HOST_*` variables `runtime-host` itself reads, so that a
    /// worker and its host can share one environment:
    ///
    /// - `RUNTIME_HOST_ADDRESS`: the host, `host:port` (else `defaultHost`); several,
    ///   comma-separated, for a cluster (``fallbackHosts``);
    /// - `RUNTIME_HOST_AUTH_TOKEN`: the bearer token;
    /// - `RUNTIME_HOST_TLS_CA`: CA certificates (PEM) to verify the host by; setting it turns TLS on
    ///   (`RUNTIME_HOST_TLS=1` turns it on with the system's trust store);
    /// - `RUNTIME_WORKER_TLS_CERT`, `RUNTIME_WORKER_TLS_KEY`: this worker's certificate and key,
    ///   for a host that requires mutual TLS;
    /// - `RUNTIME_WORKER_LOG_LEVEL`: ``logLevel``.
    ///
    /// - Throws: `AgentRuntimeError` (invalid argument) naming the variable that is malformed.
    public static func fromEnvironment(
      defaultHost: String = "localhost:50051",
      _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(AgentRuntimeError) -> Configuration {
      let address = environment["RUNTIME_HOST_ADDRESS"] ?? defaultHost
      var configuration: Configuration
      do {
        let hosts = try hosts(parsing: address)
        configuration = Configuration(host: hosts[0])
        configuration.fallbackHosts = Array(hosts.dropFirst())
      } catch {
        throw AgentRuntimeError(code: .invalidArgument, message: "RUNTIME_HOST_ADDRESS: \(error.message)")
      }
      try configuration.applyEnvironment(environment)
      return configuration
    }

    /// The worker's logger when none is given: label `agents.worker`, at ``logLevel``.
    func makeLogger() -> Logger {
      var logger = Logger(label: "agents.worker")
      logger.logLevel = Logger.Level(rawValue: logLevel.rawValue) ?? .info
      return logger
    }

    private mutating func applyEnvironment(_ environment: [String: String]) throws(AgentRuntimeError) {
      if let token = environment["RUNTIME_HOST_AUTH_TOKEN"], !token.isEmpty { authToken = token }
      let ca = environment["RUNTIME_HOST_TLS_CA"]
      let cert = environment["RUNTIME_WORKER_TLS_CERT"]
      let key = environment["RUNTIME_WORKER_TLS_KEY"]
      if (cert == nil) != (key == nil) {
        throw AgentRuntimeError(
          code: .invalidArgument, message: "RUNTIME_WORKER_TLS_CERT and RUNTIME_WORKER_TLS_KEY go together: set both or neither")
      }
      if ca != nil || cert != nil || ["1", "true", "yes"].contains(environment["RUNTIME_HOST_TLS"]?.lowercased() ?? "") {
        tls = TLS(trustRootsPath: ca, certificateChainPath: cert, privateKeyPath: key)
      }
      if let level = environment["RUNTIME_WORKER_LOG_LEVEL"] {
        guard let parsed = LogLevel(rawValue: level.lowercased()) else {
          throw AgentRuntimeError(
            code: .invalidArgument,
            message: "RUNTIME_WORKER_LOG_LEVEL: '\(level)' is not one of \(LogLevel.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        logLevel = parsed
      }
    }
  }

  /// Where a worker's `StatefulAgent`s keep their state.
  public enum StateStorage: Sendable {
    /// In the host's state store, over the worker's connection (the worker holds no database
    /// credentials). The state of an agent moved to another worker follows it.
    case host
    /// In a store of this process's choosing, such as an `InMemoryAgentStateStore` in a test.
    case store(any AgentStateStore)
    /// Nowhere: state lives as long as the instance, as for any agent.
    case disabled
  }

  /// How a worker reaches its host. One transport carries one connection; the worker asks for a
  /// new one each time it reconnects.
  public struct Transport: Sendable {
    let make: (@Sendable () throws -> any ClientTransport)?

    /// HTTP/2 over TCP (with ``Configuration/tls`` if set) to ``Configuration/host``.
    public static var http2: Transport { Transport(make: nil) }

    /// Any gRPC client transport: `make` is called once per connection attempt.
    public static func custom(_ make: @escaping @Sendable () throws -> any ClientTransport) -> Transport {
      Transport(make: make)
    }
  }

  /// The level of a worker's own log lines; see ``Configuration/logLevel``.
  public enum LogLevel: String, Sendable, CaseIterable {
    case trace, debug, info, notice, warning, error, critical
  }

  /// How a worker reconnects: exponential backoff with jitter, bounded by ``maxBackoff``.
  ///
  /// The n-th consecutive failed attempt waits `min(initialBackoff × multiplierⁿ⁻¹, maxBackoff)`,
  /// spread by ±``jitter`` so that a fleet of workers does not reconnect in lockstep. A connection
  /// that was established resets the count.
  public struct ReconnectPolicy: Sendable, Hashable {
    /// The wait after the first failure. Default 100 ms.
    public var initialBackoff: Duration
    /// The longest wait, before jitter. Default 5 s.
    public var maxBackoff: Duration
    /// The growth factor between consecutive waits. Default 2.
    public var multiplier: Double
    /// The fraction by which each wait is randomly shortened or lengthened, 0...1. Default 0.2.
    public var jitter: Double
    /// Consecutive failed attempts after which the worker gives up and ``GrpcWorkerRuntime/run()``
    /// throws; `nil` (the default) never gives up.
    public var maxAttempts: Int?

    /// Creates a policy.
    public init(
      initialBackoff: Duration = .milliseconds(100),
      maxBackoff: Duration = .seconds(5),
      multiplier: Double = 2,
      jitter: Double = 0.2,
      maxAttempts: Int? = nil
    ) {
      self.initialBackoff = initialBackoff
      self.maxBackoff = maxBackoff
      self.multiplier = max(1, multiplier)
      self.jitter = min(max(0, jitter), 1)
      self.maxAttempts = maxAttempts
    }

    /// The wait before attempt `failures + 1`, after `failures` (≥ 1) consecutive failures.
    public func delay(afterFailures failures: Int, using generator: inout some RandomNumberGenerator) -> Duration {
      let initial = initialBackoff.seconds
      let ceiling = maxBackoff.seconds
      let base = min(initial * pow(multiplier, Double(min(max(0, failures - 1), 64))), ceiling)
      let spread = jitter == 0 ? 1 : Double.random(in: (1 - jitter)...(1 + jitter), using: &generator)
      return .milliseconds(Int64((base * spread * 1000).rounded()))
    }
  }

  /// TLS for the connection to the host.
  ///
  /// With only ``trustRootsPath`` the worker verifies the host (server TLS); add
  /// ``certificateChainPath`` and ``privateKeyPath`` to present a client certificate to a host
  /// that requires mutual TLS. Files are PEM.
  public struct TLS: Sendable, Hashable {
    /// CA certificates that sign the host's certificate; `nil` uses the system's trust store.
    public var trustRootsPath: String?
    /// This worker's certificate chain, for mutual TLS.
    public var certificateChainPath: String?
    /// The private key of ``certificateChainPath``.
    public var privateKeyPath: String?

    /// Creates TLS settings.
    public init(trustRootsPath: String? = nil, certificateChainPath: String? = nil, privateKeyPath: String? = nil) {
      self.trustRootsPath = trustRootsPath
      self.certificateChainPath = certificateChainPath
      self.privateKeyPath = privateKeyPath
    }
  }

  /// A change of the worker's connection to its host; see ``GrpcWorkerRuntime/connectionEvents()``.
  public enum ConnectionEvent: Sendable, Equatable {
    /// Connected, registered again and flushing buffered publishes, with this connection's client id.
    case connected(clientId: String)
    /// The connection was lost; the worker will reconnect (unless it is shutting down).
    case disconnected(reason: String)
    /// The worker stopped for good (shutdown, refused credentials, or reconnect given up).
    case stopped
  }
}
