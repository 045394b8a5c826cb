public import AgentCore
import AgentWire
import Foundation
public import GRPCCore
import GRPCNIOTransportHTTP2
import Hummingbird
import HummingbirdCore
import NIOPosix
public import Logging
package import Prometheus
public import ServiceLifecycle
import Synchronization

/// The host: accepts worker connections over gRPC (`agents.AgentRpc`) and routes published and
/// direct messages between them.
///
/// Run it as a `Service` (for example in a `ServiceGroup`, as the `runtime-host` daemon does) or
/// scoped with ``withAgentHost(configuration:logger:_:)``.
///
/// ```swift
/// let host = AgentHost(configuration: .init(address: try HostAddress(parsing: "localhost:50051")))
/// let group = ServiceGroup(services: [host], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
/// try await group.run()
/// ```
///
/// What it guarantees, beyond AutoGen's host:
/// - Every RPC is answered: an unserved target type, a callee that disconnects, a callee that does
///   not answer within ``Configuration/rpcTimeout``, and host shutdown all produce an `RpcResponse`
///   with `error` set. Callers' request ids are rewritten to host-unique ids on the way to the callee
///   and restored on the way back, so callers never collide.
/// - Several workers may serve one agent type. Each agent instance (type, key) is placed on one of
///   them (the least loaded), stays there while that worker is connected, and moves when it leaves.
///   A publish reaches each subscribed instance once.
///
/// - Frames over ``Configuration/maxMessageSize`` are answered (RESOURCE_EXHAUSTED) without ending
///   the sender's stream.
/// - With a tracer installed (swift-distributed-tracing) before it is created, it adds a span per
///   routed RPC and per publish (sampled by ``Configuration/tracePublishRatio``) to its callers'
///   traces, and its gateway a server span per call and publish.
/// - It serves `grpc.health.v1.Health`, optional TLS or mutual TLS (``Configuration/tls``), an
///   optional bearer token (``Configuration/authToken``), and Prometheus metrics over HTTP
///   (``Configuration/httpAddress``, ``metricsText()``).
/// - With ``Configuration/cluster``, it is one node of a cluster of hosts that act as one bus,
///   sharing a directory (``NodeDirectory``): calls and publishes reach agents whose workers are
///   connected to other nodes (see ``Cluster``).
///
/// Lifecycle: ``run()`` binds, serves until graceful shutdown (or ``beginGracefulShutdown()``), then
/// answers pending RPCs with an error, closes every stream, and returns.
public final class AgentHost: Service, Sendable {
  /// Host settings.
  public struct Configuration: Sendable {
    /// Where to listen. Port 0 picks a free port (see ``AgentHost/listeningAddress()``).
    public var address: HostAddress
    /// How long the host waits for a callee's response before answering the caller with an error.
    public var rpcTimeout: Duration
    /// The largest message the host routes, in bytes. A larger request gets an error response
    /// (RESOURCE_EXHAUSTED), a larger response becomes that error for its caller, and a larger
    /// event is dropped and logged; the sender's stream carries on. A frame over twice this size
    /// is refused by the transport, which resets that stream (its worker reconnects). Default 4 MiB.
    public var maxMessageSize: Int
    /// How many streams (channels and calls) one connection may have open at once. Workers that
    /// share a connection each hold a stream for their channel.
    public var maxConcurrentStreamsPerConnection: Int
    /// Whether the transport delays flushes to coalesce writes. The host already writes each
    /// stream's queued frames as one batch, so coalescing mostly adds latency to request/response
    /// traffic. Default off.
    public var flushCoalescing: Bool
    /// When set, every `agents.AgentRpc` call must carry `authorization: Bearer <token>`; others
    /// fail with UNAUTHENTICATED. (The health service stays open to probes.)
    public var authToken: String?
    /// Identities and their permissions, by their tokens, client certificates and JWTs
    /// (`runtime-host --auth-file`): a caller may serve, publish, watch and call only what its
    /// identity allows, on every path (workers' channels, registrations, subscriptions, the
    /// gateway). Works beside ``authToken``, which stays all-access. Replace them while the host
    /// runs with ``AgentHost/replaceCredentials(_:)``.
    public var credentials: Credentials?
    /// TLS settings; `nil` serves plaintext.
    public var tls: TLS?
    /// Where to serve HTTP: the gateway's JSON and SSE routes under `/v1`, `/healthz`, `/metrics`
    /// (Prometheus) and `/openapi.json`; `nil` (the default) serves no HTTP. Port 0 picks a free
    /// port (see ``AgentHost/httpAddress()``). TLS and the token apply as on the gRPC port.
    public var httpAddress: HostAddress?
    /// Another name for ``httpAddress`` (the HTTP listener serves `/metrics`).
    public var metricsAddress: HostAddress? {
      get { httpAddress }
      set { httpAddress = newValue }
    }
    /// How often an idle SSE stream gets a keepalive comment. Default 15 s.
    public var sseKeepAliveInterval: Duration = .seconds(15)
    /// How many recent publishes the host keeps for SSE readers that resume with `Last-Event-ID`
    /// (and `Subscribe` with `after_sequence`); 0 keeps none. Default 1,024.
    public var tapReplayCapacity: Int = 1024
    /// How many events a tap reader (SSE or `Subscribe`) may fall behind before it is dropped.
    /// Default 4,096.
    public var tapReaderBuffer: Int = 4096
    /// The least time between two writes to one SSE tap reader; events arriving meanwhile go out
    /// together. It bounds each reader's wake-ups and writes on a busy topic at the cost of that
    /// much latency. Default 10 ms; zero writes as soon as events arrive.
    public var tapFlushInterval: Duration = .milliseconds(10)
    /// How many event loop threads serve the gRPC listener; nil (the default) shares NIO's
    /// singleton group, one loop per core. Each connection lives on one loop, and a frame's routing
    /// runs on the loop that read it, so one loop puts all routing on one thread: no hand-over
    /// between loops when caller and callee are on different connections (less CPU per message and
    /// lower latency on a small machine), at the cost of using one core for routing.
    public var eventLoopThreads: Int?
    /// Where the host keeps the state of its workers' `StatefulAgent`s, served to them
    /// by the `agents.state.v1.AgentStateStore` service on the gRPC port (workers never hold the
    /// store's credentials). Default: in the host's memory, so state survives a worker's crash
    /// and an instance's move, but not the host's restart; give a SQLite or PostgreSQL store for
    /// that. `nil` serves no state (workers' stateful agents then fail to activate).
    public var stateStore: (any AgentStateStore)? = InMemoryAgentStateStore()
    /// The largest state a worker may save, in bytes; larger saves are refused
    /// (RESOURCE_EXHAUSTED) and the handler that made it fails. Default 1 MiB.
    public var maxStateSize: Int = 1024 * 1024
    /// How long one load or save may take in the store before the worker's call fails with
    /// UNAVAILABLE. Default 5 s.
    public var stateStoreTimeout: Duration = .seconds(5)
    /// When the host traces (a tracer was installed before it was created, with
    /// swift-distributed-tracing), the fraction of publishes it makes a `deliver TOPIC` span for,
    /// from 0 to 1; the tracer's own sampler still decides which spans are kept. Every routed RPC
    /// gets its `route TYPE` span. Default 1: every publish.
    public var tracePublishRatio: Double = 1
    /// Makes this host one node of a cluster of hosts sharing a directory (`runtime-host
    /// --cluster`); nil (the default) is a single host, routing in memory only.
    public var cluster: Cluster?

    /// Creates a configuration.
    public init(
      address: HostAddress = HostAddress(host: "127.0.0.1", port: 50051),
      rpcTimeout: Duration = .seconds(60),
      maxMessageSize: Int = 4 * 1024 * 1024,
      maxConcurrentStreamsPerConnection: Int = 16_384,
      flushCoalescing: Bool = false,
      authToken: String? = nil
    ) {
      self.authToken = authToken
      self.address = address
      self.rpcTimeout = rpcTimeout
      self.maxMessageSize = maxMessageSize
      self.maxConcurrentStreamsPerConnection = maxConcurrentStreamsPerConnection
      self.flushCoalescing = flushCoalescing
    }
  }

  /// One node of a cluster: host replicas that act as one bus, sharing a directory (see
  /// ``NodeDirectory``) and linked to each other over gRPC.
  ///
  /// A worker may connect to any node. A call reaches the node holding its target instance, and
  /// its response comes back the same way; a publish reaches every subscribed instance in the
  /// cluster once (one copy per node with recipients). Each instance has one owner node, recorded
  /// in the directory when it first gets a message, and stays there while that node is a member.
  public struct Cluster: Sendable {
    /// The shared directory, which the host's owner runs before the host.
    public var directory: any NodeDirectory
    /// The bearer token this node presents to the other nodes; it needs every permission there.
    /// Nil: none (nodes without a token or credentials).
    public var peerToken: String?
    /// PEM CA certificates that sign the other nodes' certificates, when nodes serve TLS; the node
    /// presents its own certificate (``AgentHost/TLS``) as its client certificate.
    public var peerTrustRootsPath: String?
    /// How long the node waits for the directory to place a new instance; the messages held for
    /// it then fail (a call gets UNAVAILABLE, naming the directory's problem). Default 2 s.
    public var claimTimeout: Duration = .seconds(2)

    public init(directory: any NodeDirectory, peerToken: String? = nil, peerTrustRootsPath: String? = nil) {
      self.directory = directory
      self.peerToken = peerToken
      self.peerTrustRootsPath = peerTrustRootsPath
    }
  }

  /// TLS for the host's listener. Files are PEM.
  ///
  /// With ``clientCertificateTrustRootsPath`` set, the host requires mutual TLS: a worker must present
  /// a certificate signed by one of those CAs, or the handshake fails.
  public struct TLS: Sendable, Hashable {
    /// The host's certificate chain.
    public var certificateChainPath: String
    /// The private key of the certificate.
    public var privateKeyPath: String
    /// CA certificates that sign workers' client certificates; setting it requires them.
    public var clientCertificateTrustRootsPath: String?

    /// Creates TLS settings.
    public init(certificateChainPath: String, privateKeyPath: String, clientCertificateTrustRootsPath: String? = nil) {
      self.certificateChainPath = certificateChainPath
      self.privateKeyPath = privateKeyPath
      self.clientCertificateTrustRootsPath = clientCertificateTrustRootsPath
    }

    var transportSecurity: HTTP2ServerTransport.Posix.TransportSecurity {
      let chain: [TLSConfig.CertificateSource] = [.file(path: certificateChainPath, format: .pem)]
      let key = TLSConfig.PrivateKeySource.file(path: privateKeyPath, format: .pem)
      guard let clientRoots = clientCertificateTrustRootsPath else {
        return .tls(certificateChain: chain, privateKey: key)
      }
      return .mTLS(certificateChain: chain, privateKey: key) { config in
        config.trustRoots = .certificates([.file(path: clientRoots, format: .pem)])
        config.clientCertificateVerification = .noHostnameVerification
      }
    }
  }

  /// The host's settings.
  public let configuration: Configuration
  private let logger: Logger
  let router: HostRouter
  private let metrics: HostMetrics
  private let health = HealthService()
  private let httpListening = OneShot<HostAddress>()
  private let listening = OneShot<HostAddress>()
  private let lifecycle = Mutex(Lifecycle.notStarted)
  private let stopRequested = OneShot<Void>()

  /// The host's lifecycle, one state behind one lock (as `GRPCServer`'s): ``run()`` may be called
  /// once, and a shutdown requested before it makes it return at once instead of serving.
  private enum Lifecycle {
    case notStarted
    /// `run()` has started; the server's shutdown is there once the server is made.
    case running((@Sendable () -> Void)?)
    case stopping
    case stopped

    var isServing: Bool {
      if case .running = self { true } else { false }
    }
  }
  let gateway: Gateway
  /// Who callers are: the shared token, the credentials, or anyone.
  let authenticator: Authenticator
  /// The long-lived streams and their callers' credentials.
  let openStreams: OpenStreams

  /// Creates a host; it listens once ``run()`` is called.
  public init(configuration: Configuration = Configuration(), logger: Logger = Logger(label: "agents.host")) {
    self.configuration = configuration
    self.logger = logger
    self.metrics = HostMetrics(registry: metricsRegistry)
    self.router = HostRouter(
      rpcTimeout: configuration.rpcTimeout, logger: logger, metrics: metrics,
      tap: EventTap(ringCapacity: configuration.tapReplayCapacity, readerBuffer: configuration.tapReaderBuffer),
      tracePublishRatio: min(1, max(0, configuration.tracePublishRatio)))
    if let cluster = configuration.cluster {
      router.joinCluster(cluster.directory)
      let directory = cluster.directory
      health.report(.init(problem: { directory.problem }, changes: { directory.changes() }))
    }
    self.gateway = Gateway(router: router, maxMessageSize: configuration.maxMessageSize, logger: logger)
    self.authenticator = Authenticator(sharedToken: configuration.authToken, credentials: configuration.credentials)
    self.openStreams = OpenStreams(authenticator: authenticator)
  }

  /// The registry behind the host's metrics (the `agents_host_*` families). Not public: the
  /// library's API does not tie users to swift-prometheus. `runtime-host` bootstraps swift-metrics
  /// on it, so that metrics recorded through swift-metrics in the daemon are served with these.
  package let metricsRegistry = PrometheusCollectorRegistry()

  /// The current metrics in the Prometheus text format, as the endpoint serves them.
  public func metricsText() -> String {
    String(decoding: metrics.render(router.snapshot), as: UTF8.self)
  }

  /// The address of the HTTP listener, once it listens (the real port when configured with
  /// port 0).
  ///
  /// - Throws: when no ``Configuration/httpAddress`` is set, binding failed, or the host stopped.
  public func httpAddress() async throws -> HostAddress {
    guard configuration.httpAddress != nil else {
      throw AgentRuntimeError(code: .unavailable, message: "the host has no HTTP listener (httpAddress is not set)")
    }
    return try await httpListening.value()
  }

  /// Another name for ``httpAddress()``: the HTTP listener serves `/metrics`.
  public func metricsAddress() async throws -> HostAddress {
    try await httpAddress()
  }

  /// The address the host listens on, once it does (the real port when configured with port 0).
  ///
  /// - Throws: when the host failed to bind or has stopped.
  public func listeningAddress() async throws -> HostAddress {
    try await listening.value()
  }

  /// Binds and serves until graceful shutdown, then closes everything and returns.
  ///
  /// - Throws: when the host cannot bind, when `run()` was already called, or when
  ///   ``beginGracefulShutdown()`` came first (a host runs once; make a new one to serve again).
  public func run() async throws {
    try start()
    defer { lifecycle.withLock { $0 = .stopped } }
    let eventLoopGroup = configuration.eventLoopThreads.map { MultiThreadedEventLoopGroup(numberOfThreads: $0) } ?? .singleton
    defer {
      if configuration.eventLoopThreads != nil { eventLoopGroup.shutdownGracefully { _ in } }
    }
    let transport = HTTP2ServerTransport.Posix(
      address: try configuration.address.socketAddress(),
      transportSecurity: configuration.tls?.transportSecurity ?? .plaintext,
      config: .defaults { config in
        config.rpc.maxRequestPayloadSize = Self.transportLimit(configuration.maxMessageSize)
        config.http2.maxConcurrentStreams = configuration.maxConcurrentStreamsPerConnection
        if !configuration.flushCoalescing { config.connection.flushCoalescing = nil }
      },
      eventLoopGroup: eventLoopGroup
    )
    try await serve(over: transport, eventLoopGroup: eventLoopGroup) {
      let address = try await transport.listeningAddress
      self.logger.info("listening", metadata: ["address": "\(address)"])
      return try HostAddress(address)
    }
  }

  /// Serves the host's gRPC services over `transport` instead of TCP at
  /// ``Configuration/address`` (the HTTP listener, if configured, still binds its address), until
  /// graceful shutdown. The `AgentRuntimeTesting` product runs hosts this way, over gRPC's
  /// in-process transport.
  ///
  /// ``listeningAddress()`` has no address to give for such a host and throws.
  ///
  /// - Throws: what ``run()`` throws.
  public func run(over transport: some ServerTransport) async throws {
    try start()
    defer { lifecycle.withLock { $0 = .stopped } }
    try await serve(over: transport, eventLoopGroup: .singleton) {
      throw AgentRuntimeError(code: .unavailable, message: "the host serves over \(type(of: transport)), which has no address")
    }
  }

  /// Moves the lifecycle to running, or refuses.
  private func start() throws(AgentRuntimeError) {
    try lifecycle.withLock { state throws(AgentRuntimeError) in
      switch state {
      case .notStarted:
        state = .running(nil)
      case .running, .stopping:
        throw AgentRuntimeError(code: .unavailable, message: "the host is already running: run() may be called once")
      case .stopped:
        throw AgentRuntimeError(code: .unavailable, message: "the host has been shut down: create a new AgentHost to serve again")
      }
    }
  }

  /// Replaces the credentials while the host runs (`runtime-host` does on SIGHUP and when its
  /// `--auth-file` changes): new callers are checked against them at once, and every open stream
  /// (workers' channels, gateway topic streams) is checked again. A stream whose credential is
  /// no longer accepted ends with UNAUTHENTICATED; one whose identity now has other permissions
  /// ends with UNAVAILABLE, so that its worker reconnects under them; the others carry on.
  ///
  /// - Returns: how many streams it ended.
  /// - Throws: `AgentRuntimeError` (invalid argument) for a host started without
  ///   ``Configuration/credentials`` or ``Configuration/authToken``: an open host stays open.
  @discardableResult
  public func replaceCredentials(_ credentials: Credentials) async throws(AgentRuntimeError) -> Int {
    guard !authenticator.isOpen else {
      throw AgentRuntimeError(
        code: .invalidArgument, message: "the host was started without credentials or a token, and stays open")
    }
    authenticator.replace(credentials)
    let ended = await openStreams.revalidate()
    logger.notice(
      "credentials replaced",
      metadata: ["identities": "\(credentials.count)", "jwt": "\(credentials.acceptsJWTs)", "streams-ended": "\(ended)"])
    return ended
  }

  /// How many streams (workers' channels, gateway topic streams) are open under credentials.
  public var authenticatedStreams: Int { openStreams.count }

  /// The state service, when the host keeps state.
  private var stateService: [any RegistrableRPCService] {
    guard let store = configuration.stateStore else { return [] }
    let settings = StateSettings(store: store, maxStateSize: configuration.maxStateSize, timeout: configuration.stateStoreTimeout)
    return [StateService(settings: settings, router: router, metrics: metrics, logger: logger)]
  }

  private func serve<Transport: ServerTransport>(
    over transport: Transport,
    eventLoopGroup: MultiThreadedEventLoopGroup,
    address: @escaping @Sendable () async throws -> HostAddress
  ) async throws {
    let server = GRPCServer(
      transport: transport,
      services: [
        AgentRpcService(
          router: router, logger: logger, authenticator: authenticator, openStreams: openStreams,
          maxMessageSize: configuration.maxMessageSize),
        GatewayService(
          gateway: gateway, authenticator: authenticator, openStreams: openStreams, flushInterval: configuration.tapFlushInterval),
        health,
      ] + stateService,
      interceptorPipeline: authenticator.isOpen
        ? []
        : [.apply(
          AuthenticationInterceptor(authenticator: authenticator),
          to: .services([Agents_AgentRpc.descriptor, Agents_Gateway_V1_Gateway.descriptor, Agents_State_V1_AgentStateStore.descriptor]))]
    )
    let started = lifecycle.withLock { state in
      guard case .running = state else { return false }
      state = .running({ server.beginGracefulShutdown() })
      return true
    }
    guard started else {
      // Shut down while starting: nothing was served.
      listening.resolve(.failure(AgentRuntimeError(code: .unavailable, message: "the host was shut down before it listened")))
      httpListening.resolve(.failure(AgentRuntimeError(code: .unavailable, message: "the host was shut down before it listened")))
      return
    }
    do {
      try await withGracefulShutdownHandler {
        try await withThrowingTaskGroup(of: Void.self) { group in
          group.addTask { await self.router.runDeadlineSweeper() }
          group.addTask { await self.openStreams.runExpirySweeper() }
          if let cluster = configuration.cluster {
            let member = ClusterMember(
              cluster: cluster, router: router, metrics: metrics, logger: logger,
              maxMessageSize: configuration.maxMessageSize, tls: configuration.tls)
            group.addTask { await member.run() }
          }
          // The gateway's internal caller and the HTTP listener, like the gRPC server, run on the
          // event loop that woke them (SSE taps opt out: their writes must not take routing time).
          group.addTask { await withTaskExecutorPreference(EventLoopTaskExecutor(group: eventLoopGroup)) { await self.gateway.run() } }
          let httpDone = OneShot<Void>()
          if let httpAddress = configuration.httpAddress {
            let http = try self.makeHTTPServer(address: httpAddress)
            group.addTask {
              defer { httpDone.resolve(.success(())) }
              do {
                try await withTaskExecutorPreference(EventLoopTaskExecutor()) { try await http.run() }
              } catch {
                self.httpListening.resolve(.failure(error))
                throw error
              }
            }
            group.addTask {
              // Stop HTTP when the host stops (or the gRPC server ends and cancels this).
              _ = try? await self.stopRequested.value()
              await http.triggerGracefulShutdown()
            }
          } else {
            httpDone.resolve(.success(()))
          }
          group.addTask {
            do {
              self.listening.resolve(.success(try await address()))
            } catch {
              self.listening.resolve(.failure(error))
            }
          }
          defer { group.cancelAll() }  // the sweeper stops with the server
          try await withTaskExecutorPreference(EventLoopTaskExecutor(group: eventLoopGroup)) {
            try await server.serve()
          }
          // Let HTTP finish its graceful shutdown (open streams end with the router's), bounded.
          stopRequested.resolve(.success(()))
          _ = try? await withDeadline(
            .seconds(10), timeoutError: { AgentRuntimeError(code: .deadlineExceeded, message: "HTTP shutdown") },
            cancelledError: { AgentRuntimeError(code: .cancelled, message: "HTTP shutdown") },
            { try await httpDone.value() })
        }
      } onGracefulShutdown: {
        self.beginGracefulShutdown()
      }
    } catch {
      listening.resolve(.failure(error))
      throw error
    }
    listening.resolve(.failure(AgentRuntimeError(code: .unavailable, message: "the host has stopped")))
    httpListening.resolve(.failure(AgentRuntimeError(code: .unavailable, message: "the host has stopped")))
  }

  /// The HTTP listener as a service group of its own, so that ``beginGracefulShutdown()`` can stop it.
  private func makeHTTPServer(address: HostAddress) throws -> ServiceGroup {
    let http = HTTPGateway(
      gateway: gateway, authenticator: authenticator, openStreams: openStreams, keepAliveInterval: configuration.sseKeepAliveInterval,
      tapFlushInterval: configuration.tapFlushInterval, startedAt: Date(),
      isServing: { [weak self] in self?.lifecycle.withLock { $0.isServing } ?? false },
      metrics: { [metrics, router] in metrics.render(router.snapshot) },
      cluster: { [weak self] in self?.clusterStatus })
    // Each connection reports its client going away, so that a plain call ends at once.
    let http1 = HTTPServerBuilder.http1(
      configuration: .init(additionalChannelHandlers: [ConnectionCloseHandler(watch: http.connections)]))
    let application = Application(
      router: http.makeRouter(),
      server: try configuration.tls?.httpServer(http1) ?? http1,
      configuration: ApplicationConfiguration(address: .hostname(address.host, port: address.port), serverName: "runtime-host"),
      onServerRunning: { [httpListening, logger] channel in
        let bound = HostAddress(host: address.host, port: channel.localAddress?.port ?? address.port)
        logger.info("http listening", metadata: ["address": "\(bound)"])
        httpListening.resolve(.success(bound))
      },
      logger: logger
    )
    return ServiceGroup(services: [application], logger: logger)
  }

  /// The transport ends a stream whose message exceeds this; below it, the host answers.
  static func transportLimit(_ maxMessageSize: Int) -> Int {
    maxMessageSize > Int.max / 2 ? Int.max : 2 * maxMessageSize
  }

  /// Stops accepting connections, answers every pending RPC with an error, closes every stream,
  /// and lets ``run()`` return. Idempotent.
  public func beginGracefulShutdown() {
    enum Action {
      case none
      /// Never ran: it never will.
      case stopUnstarted
      case stop((@Sendable () -> Void)?)
    }
    let action = lifecycle.withLock { state -> Action in
      switch state {
      case .notStarted:
        state = .stopped
        return .stopUnstarted
      case .running(let server):
        state = .stopping
        return .stop(server)
      case .stopping, .stopped:
        return .none
      }
    }
    if case .none = action { return }
    logger.info("shutting down")
    health.markNotServing()
    router.shutdown()
    switch action {
    case .none:
      break
    case .stopUnstarted:
      let stopped = AgentRuntimeError(code: .unavailable, message: "the host was shut down before it ran")
      listening.resolve(.failure(stopped))
      httpListening.resolve(.failure(stopped))
    case .stop(let stopServer):
      stopServer?()
    }
    stopRequested.resolve(.success(()))
  }
}

/// Runs an ``AgentHost`` for the duration of `body`, then shuts it down gracefully.
///
/// `body` receives the host once it is listening.
public func withAgentHost<Result: Sendable>(
  configuration: AgentHost.Configuration = AgentHost.Configuration(address: HostAddress(host: "127.0.0.1", port: 0)),
  logger: Logger = Logger(label: "agents.host"),
  _ body: @Sendable (AgentHost) async throws -> Result
) async throws -> Result {
  try await withRunningService(
    AgentHost(configuration: configuration, logger: logger),
    run: { try await $0.run() },
    ready: { _ = try await $0.listeningAddress() },
    shutdown: { $0.beginGracefulShutdown() },
    body
  )
}
