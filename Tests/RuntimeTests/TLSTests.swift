import AgentCore
import AgentTestSupport
import AgentWire
import Foundation
import GrpcHost
import GrpcWorker
import Testing

@Suite("TLS and mutual TLS", .timeLimit(.minutes(1)))
struct TLSTests {
  let certificates: TestCertificates

  init() throws { certificates = try TestCertificates.make() }

  func withTLSHost<R: Sendable>(
    mutual: Bool, credentials: Credentials? = nil, _ body: @Sendable (HostAddress) async throws -> R
  ) async throws -> R {
    var configuration = AgentHost.Configuration(address: HostAddress(host: "127.0.0.1", port: 0))
    configuration.credentials = credentials
    configuration.tls = .init(
      certificateChainPath: certificates.path("host.pem"), privateKeyPath: certificates.path("host.key"),
      clientCertificateTrustRootsPath: mutual ? certificates.path("ca.pem") : nil)
    defer { certificates.remove() }
    return try await withAgentHost(configuration: configuration, logger: quietLogger) { host in
      // The certificate names localhost.
      try await body(HostAddress(host: "localhost", port: try await host.listeningAddress().port))
    }
  }

  func worker(_ address: HostAddress, trust: String?, identity: String? = nil) -> GrpcWorkerRuntime.Configuration {
    var configuration = GrpcWorkerRuntime.Configuration(host: address, defaultRPCTimeout: .seconds(10), shutdownGracePeriod: .seconds(1))
    if let trust {
      configuration.tls = .init(
        trustRootsPath: certificates.path(trust),
        certificateChainPath: identity.map { certificates.path("\($0).pem") },
        privateKeyPath: identity.map { certificates.path("\($0).key") })
    }
    // One attempt: a refused handshake ends run() instead of retrying.
    configuration.reconnect = .init(initialBackoff: .milliseconds(10), maxBackoff: .milliseconds(10), maxAttempts: 1)
    return configuration
  }

  /// Runs a worker that must talk to the host: an RPC to its own agent goes through the host.
  func roundTrip(_ configuration: GrpcWorkerRuntime.Configuration) async throws {
    try await withGrpcWorker(configuration: configuration, serializers: testSerializers, logger: quietLogger) { worker in
      try await worker.register(AgentType("counter")) { id, _ in CounterAgent(id: id) }
      #expect(try await worker.send(Ping(hops: 0), to: try AgentId(type: "counter", key: "k"), returning: Ping.self).hops == 1)
    }
  }

  /// Runs a worker that must fail to connect; returns why run() ended.
  func refusal(_ configuration: GrpcWorkerRuntime.Configuration) async -> AgentRuntimeError? {
    let worker = GrpcWorkerRuntime(configuration: configuration, serializers: testSerializers, logger: quietLogger)
    do {
      try await worker.run()
      Issue.record("the worker connected")
      return nil
    } catch {
      return error as? AgentRuntimeError
    }
  }

  @Test("TLS: a worker trusting the host's CA connects; wrong trust and plaintext fail the handshake")
  func serverTLS() async throws {
    try await withTLSHost(mutual: false) { address in
      try await roundTrip(worker(address, trust: "ca.pem"))

      let untrusted = await refusal(worker(address, trust: "other-ca.pem"))
      #expect(untrusted?.code == .unavailable)
      #expect("\(String(describing: untrusted))".contains("CERTIFICATE_VERIFY_FAILED"), "\(String(describing: untrusted))")

      let plaintext = await refusal(worker(address, trust: nil))
      #expect(plaintext?.code == .unavailable, "\(String(describing: plaintext))")
    }
  }

  @Test("a TLS file that cannot be read stops the worker with a clear error instead of retrying")
  func unreadableFile() async throws {
    try await withTLSHost(mutual: false) { address in
      var configuration = worker(address, trust: "ca.pem")
      configuration.tls?.trustRootsPath = certificates.path("missing.pem")
      configuration.reconnect = .init()  // would retry for ever if this were a connection failure
      let error = await refusal(configuration)
      #expect(error?.code == .invalidArgument)
      #expect(error?.message.contains("cannot set up the connection") == true, "\(String(describing: error))")
    }
  }

  @Test("mutual TLS: a worker certificate from the host's CA connects; none, or one from another CA, fails")
  func mutualTLS() async throws {
    try await withTLSHost(mutual: true) { address in
      try await roundTrip(worker(address, trust: "ca.pem", identity: "worker"))

      let anonymous = await refusal(worker(address, trust: "ca.pem"))
      #expect(anonymous?.code == .unavailable)
      #expect("\(String(describing: anonymous))".contains("CERTIFICATE_REQUIRED"), "\(String(describing: anonymous))")
      let stranger = await refusal(worker(address, trust: "ca.pem", identity: "stranger"))
      #expect(stranger?.code == .unavailable)
      #expect("\(String(describing: stranger))".contains("UNKNOWN_CA"), "\(String(describing: stranger))")
    }
  }

  @Test("mutual TLS with identities by certificate subject: the worker gets its subject's permissions, no more")
  func certificateIdentities() async throws {
    let patterns = { (texts: [String]) in texts.map { try! NamePattern($0) } }
    let identity = Identity(name: "counter-worker", permissions: Permissions(serve: patterns(["counter"]), call: patterns(["counter"])))
    try await withTLSHost(mutual: true, credentials: Credentials([], certificateSubjects: ["CN=worker": identity])) { address in
      try await roundTrip(self.worker(address, trust: "ca.pem", identity: "worker"))
      try await withGrpcWorker(
        configuration: self.worker(address, trust: "ca.pem", identity: "worker"), serializers: testSerializers, logger: quietLogger
      ) { runtime in
        let refused = await #expect(throws: AgentRuntimeError.self) {
          try await runtime.register(AgentType("payments")) { id, _ in CounterAgent(id: id) }
        }
        #expect(refused?.code == .permissionDenied)
        #expect(refused?.message.contains("identity 'counter-worker' may not serve agent type 'payments'") == true, "\(String(describing: refused))")
      }
    }
  }

  @Test("mutual TLS with identities by certificate subject: a certificate whose subject has no identity is refused")
  func unmappedCertificate() async throws {
    let identity = Identity(name: "counter-worker", permissions: .all)
    try await withTLSHost(mutual: true, credentials: Credentials([], certificateSubjects: ["CN=someone-else": identity])) { address in
      let refused = await refusal(worker(address, trust: "ca.pem", identity: "worker"))
      #expect(refused?.code == .unauthenticated)
      #expect(refused?.message.contains("no identity for the client certificate 'CN=worker'") == true, "\(String(describing: refused))")
    }
  }
}
