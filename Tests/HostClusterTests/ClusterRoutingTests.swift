import AgentCore
import AgentRuntimeTesting
import AgentTestSupport
import Foundation
import GrpcHost
import GrpcWorker
import HostCluster
import Logging
import ServiceLifecycle
import Synchronization
import Testing

/// Host replicas as one bus: nodes in this process, each an `AgentHost` with its own directory
/// over a real PostgreSQL server (`AGENTS_TEST_POSTGRES_URL`), a schema per test, and gRPC
/// workers connected to different nodes. (Killing a node's process is tested with separate
/// processes, in `Tests/Interop/test_cluster.py`.)
@Suite("Cluster: host replicas as one bus", .enabled(if: TestPostgres.enabled), .timeLimit(.minutes(2)))
struct ClusterRoutingTests {
  struct Node: Sendable {
    let name: String
    let host: AgentHost
    let directory: ClusterDirectory
    let address: HostAddress
    /// The node's directory pool, directory and host: stopping it stops the node gracefully.
    let services: ServiceGroup
  }

  /// Runs `body` with a running cluster of `names`, each node linked to all the others.
  func withCluster<R: Sendable>(
    _ names: [String], lease: Duration = .seconds(3), rpcTimeout: Duration = .seconds(10), token: String? = nil,
    tls certificates: TestCertificates? = nil,
    _ body: @Sendable ([Node]) async throws -> R
  ) async throws -> R {
    let url = try TestPostgres.requireURL()
    let schema = "test_routing_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
    let verbose = ProcessInfo.processInfo.environment["CLUSTER_TEST_LOG"] == "1"
    var nodes: [Node] = []
    for name in names {
      var logger = Logger(label: "node-\(name)")
      logger.logLevel = verbose ? .debug : .critical
      let address = HostAddress(host: "127.0.0.1", port: try await freePort())
      var settings = ClusterDirectory.Configuration(url: url, nodeName: name, address: address.description)
      settings.schema = schema
      settings.lease = lease
      settings.heartbeatInterval = lease / 3
      let directory = try ClusterDirectory(configuration: settings, logger: logger)
      var configuration = AgentHost.Configuration(address: address, rpcTimeout: rpcTimeout, authToken: token)
      configuration.cluster = .init(directory: directory, peerToken: token, peerTrustRootsPath: certificates?.path("ca.pem"))
      if let certificates {
        // Mutual TLS: workers and the other nodes present certificates from the CA.
        configuration.tls = .init(
          certificateChainPath: certificates.path("host.pem"), privateKeyPath: certificates.path("host.key"),
          clientCertificateTrustRootsPath: certificates.path("ca.pem"))
      }
      let host = AgentHost(configuration: configuration, logger: logger)
      // The pool outlives the directory, which outlives the host (shutdown runs in reverse order).
      let services = ServiceGroup(configuration: .init(services: [directory.pool, directory, host], logger: quietLogger))
      nodes.append(Node(name: name, host: host, directory: directory, address: address, services: services))
    }
    let all = nodes
    return try await withThrowingTaskGroup(of: R?.self) { tasks in
      for node in all {
        tasks.addTask {
          try await node.services.run()
          return nil
        }
      }
      defer { tasks.cancelAll() }
      func stopAll() async {
        for node in all { await node.services.triggerGracefulShutdown() }
      }
      do {
        for node in all { try await linked(node, to: all.count - 1) }
        let result = try await body(all)
        await stopAll()
        while let next = try await tasks.next() { if next != nil { break } }
        return result
      } catch {
        await stopAll()
        throw error
      }
    }
  }

  /// A loopback port nothing listens on (a host bound it, then stopped).
  func freePort() async throws -> Int {
    try await withAgentHost(logger: quietLogger) { host in try await host.listeningAddress().port }
  }

  /// Waits (bounded, on status changes) until `condition` holds for `node`'s view of the cluster.
  func eventually(
    _ node: Node, _ what: String, within timeout: Duration = .seconds(15),
    _ condition: @escaping @Sendable (AgentHost.ClusterStatus) -> Bool
  ) async throws {
    let met = await waitUntil(node.host.clusterStatusUpdates(), within: timeout) { status in status.map(condition) ?? false }
    if !met { Issue.record("not within \(timeout): \(what) on \(node.name); \(String(describing: node.host.clusterStatus))") }
    try #require(met)
  }

  func linked(_ node: Node, to peers: Int) async throws {
    try await eventually(node, "linked to \(peers) peers") { $0.nodes.filter(\.linked).count == peers && $0.problem == nil }
  }

  /// Waits until every node knows that `type` is served by `count` nodes.
  func served(_ type: String, by count: Int, on nodes: [Node]) async throws {
    for node in nodes {
      try await eventually(node, "'\(type)' served by \(count) nodes") { $0.nodes.filter { $0.agentTypes.contains(type) }.count == count }
    }
  }

  func worker(_ node: Node, token: String? = nil, in group: inout ThrowingTaskGroup<Void, any Error>) -> GrpcWorkerRuntime {
    var configuration = GrpcWorkerRuntime.Configuration(host: node.address, defaultRPCTimeout: .seconds(10), shutdownGracePeriod: .seconds(1))
    configuration.authToken = token
    let worker = GrpcWorkerRuntime(configuration: configuration, serializers: testSerializers, logger: quietLogger)
    group.addTask { try await worker.run() }
    return worker
  }

  @Test("a call crosses nodes and its answer comes back; each key is placed once across the cluster and stays there; instances spread over the nodes")
  func crossNodeCalls() async throws {
    try await withCluster(["a", "b", "c"]) { nodes in
      try await withThrowingTaskGroup(of: Void.self) { group in
        let caller = worker(nodes[0], in: &group)
        // One worker of `echo` on b and one on c: keys spread over both, each one sticks.
        for node in nodes[1...] {
          let server = worker(node, in: &group)
          try await server.register(AgentType("echo")) { id, _ in EchoAgent(id: id, log: Recorder()) }
        }
        try await served("echo", by: 2, on: nodes)
        var answers: [String: String] = [:]
        for round in 0..<2 {
          for index in 0..<20 {
            let id = try AgentId(type: "echo", key: "k\(index)")
            let reply = try await caller.send(ChatMessage(text: "r\(round)"), to: id, returning: ChatReply.self)
            #expect(reply.text.hasPrefix("k\(index) heard r\(round)"))
            answers[id.key, default: ""] += reply.text
          }
        }
        // Placed in the directory: 20 instances, on both serving nodes.
        try #require(await waitUntil(nodes[0].directory.changes(), within: .seconds(15)) { _ in nodes[0].directory.cache.placements.count == 20 })
        let owners = Set(nodes[0].directory.cache.placements.values.map(\.node))
        #expect(owners == ["b", "c"], "instances spread over the serving nodes: \(owners)")
        #expect(!owners.contains("a"))
        // The same placement seen from every node.
        for node in nodes[1...] {
          try #require(await waitUntil(node.directory.changes(), within: .seconds(15)) { _ in
            node.directory.cache.placements == nodes[0].directory.cache.placements
          })
        }
        // An unknown type: a clear error, at once.
        await #expect(throws: AgentRuntimeError.self) {
          _ = try await caller.send(ChatMessage(text: "x"), to: try AgentId(type: "nobody", key: "k"), returning: ChatReply.self)
        }
        group.cancelAll()
      }
    }
  }

  @Test("a publish reaches every subscribed instance in the cluster exactly once: type, prefix and default subscriptions across nodes")
  func exactlyOncePublish() async throws {
    try await withCluster(["a", "b", "c"]) { nodes in
      try await withThrowingTaskGroup(of: Void.self) { group in
        let heard = Recorder<String>()
        // `listener` on a and b (one instance per source, on one of them); `prefixed` on c;
        // `defaulted` (default subscription: topic type "default") on b.
        for node in nodes[0...1] {
          let worker = worker(node, in: &group)
          try await worker.register(AgentType("listener"), subscriptions: [.type("news")]) { id, _ in EchoAgent(id: id, log: heard) }
        }
        let onC = worker(nodes[2], in: &group)
        try await onC.register(AgentType("prefixed"), subscriptions: [.typePrefix("ne")]) { id, _ in EchoAgent(id: id, log: heard) }
        let onB = worker(nodes[1], in: &group)
        try await onB.register(AgentType("defaulted"), subscriptions: [.type("default")]) { id, _ in EchoAgent(id: id, log: heard) }
        try await served("listener", by: 2, on: nodes)
        try await served("prefixed", by: 1, on: nodes)
        // Every node knows every subscription made on any node (workers add their own too).
        let total = nodes.map(\.host.status.subscriptions).reduce(0, +)
        for node in nodes {
          try await eventually(node, "all \(total) subscriptions known") { _ in node.directory.cache.subscriptions.count == total }
        }
        let publisher = worker(nodes[0], in: &group)
        for index in 0..<10 {
          try await publisher.publish(ChatMessage(text: "n\(index)"), to: TopicId(type: "news", source: "s\(index % 3)"))
        }
        try await publisher.publish(ChatMessage(text: "d"), to: TopicId(type: "default", source: "default"))
        // 10 publishes × (listener + prefixed) + 1 default.
        let received = try await heard.waitFor(count: 21)
        #expect(received.count == 21 && Set(received).count == 21, "each once: \(received.sorted())")
        #expect(received.filter { $0.hasPrefix("listener/") }.count == 10)
        #expect(received.filter { $0.hasPrefix("prefixed/") }.count == 10)
        #expect(received.contains("defaulted/default got d on default/default from nobody"))
        // Nothing more arrives (a second copy would come right behind the first).
        let again = try await publisher.send(ChatMessage(text: "sync"), to: try AgentId(type: "listener", key: "s0"), returning: ChatReply.self)
        #expect(again.text.hasPrefix("s0 heard sync"))
        #expect(heard.all.count == 21)
        group.cancelAll()
      }
    }
  }

  @Test("a subscription id is unique across the cluster")
  func subscriptionIdsUnique() async throws {
    try await withCluster(["a", "b"]) { nodes in
      try await withThrowingTaskGroup(of: Void.self) { group in
        let first = worker(nodes[0], in: &group)
        try await first.register(AgentType("one")) { id, _ in EchoAgent(id: id, log: Recorder()) }
        _ = try await first.addSubscription(try Subscription(id: "shared-id", filter: .type("t"), agentType: AgentType("one")))
        try await eventually(nodes[1], "the subscription is known") { _ in nodes[1].directory.cache.subscriptions["shared-id"] != nil }
        let second = worker(nodes[1], in: &group)
        try await second.register(AgentType("two")) { id, _ in EchoAgent(id: id, log: Recorder()) }
        let refused = await #expect(throws: AgentRuntimeError.self) {
          _ = try await second.addSubscription(try Subscription(id: "shared-id", filter: .type("t"), agentType: AgentType("two")))
        }
        #expect(refused?.message.contains("already exists") == true)
        group.cancelAll()
      }
    }
  }

  @Test("a node that stops: calls in flight through it get an error at once, its instances are placed again on the others")
  func nodeStops() async throws {
    try await withCluster(["a", "b", "c"], lease: .seconds(1)) { nodes in
      try await withThrowingTaskGroup(of: Void.self) { group in
        let caller = worker(nodes[0], in: &group)
        let onB = worker(nodes[1], in: &group)
        let started = Recorder<String>()
        try await onB.register(AgentType("slow")) { id, _ in SilentAgent(id: id, started: started) }
        try await served("slow", by: 1, on: nodes)
        // Placed on b, the only node serving it then; its handler never answers.
        let id = try AgentId(type: "slow", key: "k")
        async let pending: Result<ChatReply, any Error> = {
          do { return .success(try await caller.send(ChatMessage(text: "wait"), to: id, returning: ChatReply.self)) } catch { return .failure(error) }
        }()
        _ = try await started.waitFor(count: 1)
        let onC = worker(nodes[2], in: &group)
        try await onC.register(AgentType("slow")) { id, _ in EchoAgent(id: id, log: Recorder()) }
        try await served("slow", by: 2, on: nodes)

        let stopping = ContinuousClock.now
        await nodes[1].services.triggerGracefulShutdown()
        let outcome = await pending
        guard case .failure(let error) = outcome else {
          Issue.record("answered: \(outcome)")
          return
        }
        #expect(ContinuousClock.now - stopping < .seconds(2), "answered within 2 s: \(error)")
        // b left the directory: its instance is placed again on demand, on c.
        try await eventually(nodes[0], "b gone") { status in !status.nodes.contains { $0.name == "b" } }
        let reply = try await caller.send(ChatMessage(text: "again"), to: id, returning: ChatReply.self)
        #expect(reply.text.hasPrefix("k heard again"))
        // c claimed it; a learns so by the directory's notification.
        #expect(await waitUntil(nodes[0].directory.changes(), within: .seconds(10)) { _ in nodes[0].directory.cache.owner(of: id) == "c" })
        group.cancelAll()
      }
    }
  }

  @Test("nodes with a token link with it; a call crosses them; each node's metrics count its links, cross-node frames and claims")
  func tokenAndMetrics() async throws {
    try await withCluster(["a", "b"], token: "cluster-secret") { nodes in
      try await withThrowingTaskGroup(of: Void.self) { group in
        let caller = worker(nodes[0], token: "cluster-secret", in: &group)
        let server = worker(nodes[1], token: "cluster-secret", in: &group)
        try await server.register(AgentType("echo")) { id, _ in EchoAgent(id: id, log: Recorder()) }
        try await served("echo", by: 1, on: nodes)
        let reply = try await caller.send(ChatMessage(text: "hi"), to: try AgentId(type: "echo", key: "k"), returning: ChatReply.self)
        #expect(reply.text.hasPrefix("k heard hi"))
        let metrics = nodes[0].host.metricsText()
        #expect(metrics.contains("agents_host_cluster_linked_peers 1"))
        #expect(metrics.contains(#"agents_host_cluster_frames_total{direction="sent"} 1"#), "\(metrics)")
        #expect(metrics.contains(#"agents_host_cluster_frames_total{direction="received"} 1"#))
        // b claimed the instance (a forwarded the unplaced call to it).
        #expect(nodes[1].host.metricsText().contains(#"agents_host_cluster_claims_total{outcome="placed"} 1"#))
        // A worker without the token is refused as ever.
        let stranger = GrpcWorkerRuntime(
          configuration: .init(host: nodes[0].address, defaultRPCTimeout: .seconds(5), shutdownGracePeriod: .seconds(1)),
          serializers: testSerializers, logger: quietLogger)
        await #expect(throws: (any Error).self) { try await stranger.run() }
        group.cancelAll()
      }
    }
  }

  @Test("nodes serving mutual TLS link to each other with their certificates; a worker with its certificate calls across them")
  func mutualTLSLinks() async throws {
    let certificates = try TestCertificates.make()
    defer { certificates.remove() }
    try await withCluster(["a", "b"], tls: certificates) { nodes in
      try await withThrowingTaskGroup(of: Void.self) { group in
        func tlsWorker(_ node: Node) -> GrpcWorkerRuntime {
          var configuration = GrpcWorkerRuntime.Configuration(host: node.address, defaultRPCTimeout: .seconds(10), shutdownGracePeriod: .seconds(1))
          configuration.tls = .init(
            trustRootsPath: certificates.path("ca.pem"), certificateChainPath: certificates.path("worker.pem"),
            privateKeyPath: certificates.path("worker.key"))
          let worker = GrpcWorkerRuntime(configuration: configuration, serializers: testSerializers, logger: quietLogger)
          group.addTask { try await worker.run() }
          return worker
        }
        let caller = tlsWorker(nodes[0])
        let server = tlsWorker(nodes[1])
        try await server.register(AgentType("echo")) { id, _ in EchoAgent(id: id, log: Recorder()) }
        try await served("echo", by: 1, on: nodes)
        let reply = try await caller.send(ChatMessage(text: "over tls"), to: try AgentId(type: "echo", key: "k"), returning: ChatReply.self)
        #expect(reply.text.hasPrefix("k heard over tls"))
        group.cancelAll()
      }
    }
  }
}
