import AgentCore
import AgentTestSupport
import Foundation
import GrpcHost
import HostCluster
import Logging
import PostgresNIO
import ServiceLifecycle
import Testing

/// The directory against a real PostgreSQL server (`AGENTS_TEST_POSTGRES_URL`): each test in a
/// schema of its own, with several nodes in this process.
@Suite("Cluster: the directory in PostgreSQL", .enabled(if: TestPostgres.enabled), .timeLimit(.minutes(1)))
struct ClusterDirectoryTests {
  static func schema() -> String { "test_cluster_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12) }

  func configuration(_ url: String, _ schema: String, _ name: String, lease: Duration = .seconds(3)) -> ClusterDirectory.Configuration {
    var configuration = ClusterDirectory.Configuration(url: url, nodeName: name, address: "127.0.0.1:\(5000 + name.count)")
    configuration.schema = schema
    configuration.lease = lease
    configuration.heartbeatInterval = lease / 4
    return configuration
  }

  /// Runs `body` with running directories, one per configuration; gracefully shut down after.
  func withDirectories<R: Sendable>(
    _ configurations: [ClusterDirectory.Configuration], _ body: @Sendable ([ClusterDirectory]) async throws -> R
  ) async throws -> R {
    // CLUSTER_TEST_LOG=1 shows the directories' own lines.
    let verbose = ProcessInfo.processInfo.environment["CLUSTER_TEST_LOG"] == "1"
    let directories = try configurations.map { configuration in
      var logger = Logger(label: "directory-\(configuration.nodeName)")
      logger.logLevel = verbose ? .debug : .critical
      return try ClusterDirectory(configuration: configuration, logger: logger)
    }
    // Each directory's pool before it: shut down after it.
    let group = ServiceGroup(configuration: .init(services: directories.flatMap { [$0.pool, $0] as [any Service] }, logger: quietLogger))
    return try await withThrowingTaskGroup(of: R?.self) { tasks in
      tasks.addTask {
        try await group.run()
        return nil
      }
      defer { tasks.cancelAll() }
      do {
        let result = try await body(directories)
        await group.triggerGracefulShutdown()
        while let next = try await tasks.next() { if next != nil { break } }
        return result
      } catch {
        await group.triggerGracefulShutdown()
        throw error
      }
    }
  }

  /// Waits (bounded, on the directory's change notices) until `condition` holds for its cache.
  func eventually(
    _ directory: ClusterDirectory, _ what: String, within timeout: Duration = .seconds(10),
    _ condition: @escaping @Sendable (DirectoryCache, ClusterDirectory.Membership) -> Bool
  ) async throws {
    let changes = directory.changes()
    try await withThrowingTaskGroup(of: Bool.self) { group in
      group.addTask {
        for await _ in changes where condition(directory.cache, directory.membership) { return true }
        return false
      }
      group.addTask {
        try await Task.sleep(for: timeout)
        return false
      }
      let met = try await group.next() ?? false
      group.cancelAll()
      if !met { Issue.record("not within \(timeout): \(what); cache \(directory.cache), \(directory.membership), \(directory.problem ?? "-")") }
    }
  }

  /// Waits (bounded) until each directory is a member.
  func joined(_ directories: ClusterDirectory...) async throws {
    for directory in directories {
      try await eventually(directory, "\(directory.configuration.nodeName) is a member") { _, membership in membership != .joining }
    }
  }

  func generation(_ directory: ClusterDirectory) -> Int64? {
    if case .member(let generation) = directory.membership { generation } else { nil }
  }

  @Test("two nodes join and learn of each other, of the types each serves and of the subscriptions, by notification")
  func joinAndLearn() async throws {
    let url = try TestPostgres.requireURL()
    let schema = Self.schema()
    try await withDirectories([configuration(url, schema, "a"), configuration(url, schema, "b")]) { nodes in
      let (a, b) = (nodes[0], nodes[1])
      try await joined(a, b)
      try await a.setServedTypes(["svc", "other"])
      try await b.subscribe(id: "sub-1", kind: "type", topic: "news", agentType: "listener")
      try await eventually(b, "b knows a and its types") { cache, _ in cache.nodes["a"] != nil && cache.types["a"] == ["svc", "other"] }
      try await eventually(a, "a knows b's subscription") { cache, _ in cache.subscriptions["sub-1"]?.node == "b" }
      #expect(b.cache.nodes(serving: "svc") == ["a"])
      #expect(b.cache.nodes["a"]?.address == "127.0.0.1:5001")
      try await a.setServedTypes(["svc"])
      try await eventually(b, "b learns a no longer serves 'other'") { cache, _ in cache.types["a"] == ["svc"] }
      // Generations come from one sequence: distinct.
      #expect(generation(a) != generation(b))
    }
  }

  @Test("nodes claiming the same instances at once agree on one owner each, and every cache ends up with it")
  func claimsAgree() async throws {
    let url = try TestPostgres.requireURL()
    let schema = Self.schema()
    try await withDirectories([configuration(url, schema, "a"), configuration(url, schema, "b")]) { nodes in
      let (a, b) = (nodes[0], nodes[1])
      try await joined(a, b)
      let ids = try (0..<20).map { try AgentId(type: "svc", key: "k\($0)") }
      let outcomes = try await withThrowingTaskGroup(of: (AgentId, String, String).self) { group in
        for id in ids {
          group.addTask {
            async let fromA = a.claim(id)
            async let fromB = b.claim(id)
            return (id, try await fromA, try await fromB)
          }
        }
        return try await group.reduce(into: []) { $0.append($1) }
      }
      for (id, fromA, fromB) in outcomes {
        #expect(fromA == fromB, "\(id): a was told \(fromA), b \(fromB)")
        #expect(["a", "b"].contains(fromA))
      }
      let owners = Dictionary(uniqueKeysWithValues: outcomes.map { ($0.0.key, $0.1) })
      for node in [a, b] {
        try await eventually(node, "every placement known") { cache, _ in
          owners.allSatisfy { key, owner in cache.placements[.init(agentType: "svc", key: key)]?.node == owner }
        }
      }
      // Claiming again changes nothing.
      #expect(try await b.claim(ids[0]) == owners["k0"])
    }
  }

  @Test("a node removed after its lease ran out is fenced: its claims are refused, the others drop it and its placements, and it joins again as a new generation")
  func fencing() async throws {
    let url = try TestPostgres.requireURL()
    let schema = Self.schema()
    let lease = Duration.milliseconds(800)
    try await withDirectories([configuration(url, schema, "a", lease: lease), configuration(url, schema, "b", lease: lease)]) { nodes in
      let (a, b) = (nodes[0], nodes[1])
      try await joined(a, b)
      try await a.setServedTypes(["svc"])
      let id = try AgentId(type: "svc", key: "held")
      #expect(try await a.claim(id) == "a")
      try await eventually(b, "b knows a holds it") { cache, _ in cache.owner(of: id) == "a" }
      let first = try #require(generation(a))

      // As if a were paused past its lease, and b removed it.
      try await withRawClient(url) { client in
        _ = try await client.query("DELETE FROM \(unescaped: schema).agents_nodes WHERE name = 'a'", logger: quietLogger)
      }
      let refused = await #expect(throws: AgentRuntimeError.self) { _ = try await a.claim(try AgentId(type: "svc", key: "new")) }
      #expect(refused?.code == .unavailable)

      // a notices at its next renewal and joins again; b learns the new generation, without the old placement.
      try await eventually(b, "b sees a's new generation") { cache, _ in (cache.nodes["a"]?.generation ?? 0) > first }
      #expect(b.cache.owner(of: id) == nil)
      try await eventually(b, "a's types written again") { cache, _ in cache.types["a"] == ["svc"] }
      // The instance can be placed again, on b this time.
      #expect(try await b.claim(id) == "b")
    }
  }

  @Test("a lease that ran out while no node could remove it (the database was away) is renewed: same generation, placements kept")
  func leaseRenewedAfterOutage() async throws {
    let url = try TestPostgres.requireURL()
    let schema = Self.schema()
    try await withDirectories([configuration(url, schema, "a", lease: .milliseconds(800))]) { nodes in
      let a = nodes[0]
      try await joined(a)
      let id = try AgentId(type: "svc", key: "kept")
      #expect(try await a.claim(id) == "a")
      // Its cache knows itself and the placement (its first full read may come after the claim).
      try await eventually(a, "a knows it holds the instance") { cache, _ in cache.owner(of: id) == "a" }
      let first = try #require(generation(a))
      // As after an outage longer than the lease: the row is there, its lease over.
      try await withRawClient(url) { client in
        _ = try await client.query(
          "UPDATE \(unescaped: schema).agents_nodes SET lease_expires_at = now() - interval '1 second' WHERE name = 'a'", logger: quietLogger)
      }
      // The next renewals bring the lease back; the claim refused meanwhile, if any, would say so.
      let deadline = ContinuousClock.now + .seconds(5)
      while ContinuousClock.now < deadline, (try? await a.claim(try AgentId(type: "svc", key: "after"))) == nil {
        try await Task.sleep(for: .milliseconds(50))
      }
      #expect(try await a.claim(try AgentId(type: "svc", key: "after")) == "a")
      #expect(generation(a) == first)
      try await eventually(a, "the placement is still a's") { cache, _ in cache.owner(of: id) == "a" }
    }
  }

  @Test("a node that leaves gracefully is gone at once; one that stops renewing is removed after its lease")
  func leaving() async throws {
    let url = try TestPostgres.requireURL()
    let schema = Self.schema()
    try await withDirectories([configuration(url, schema, "observer", lease: .milliseconds(800))]) { nodes in
      let observer = nodes[0]
      try await eventually(observer, "the observer is a member") { _, membership in membership != .joining }
      // Graceful: within the lease.
      let started = ContinuousClock.now
      try await withDirectories([configuration(url, schema, "leaver", lease: .seconds(30))]) { leaver in
        try await eventually(observer, "the leaver joined") { cache, _ in cache.nodes["leaver"] != nil }
      }
      try await eventually(observer, "the leaver is gone", within: .seconds(5)) { cache, _ in cache.nodes["leaver"] == nil }
      #expect(ContinuousClock.now - started < .seconds(30))

      // Not renewing (its row left as a crashed node leaves it): removed once the lease is over.
      try await withRawClient(url) { client in
        _ = try await client.query(
          """
          INSERT INTO \(unescaped: schema).agents_nodes (name, address, generation, instance, lease_expires_at)
          VALUES ('crashed', '127.0.0.1:9', nextval('\(unescaped: schema).agents_node_generation'), 'gone', now() + interval '500 milliseconds')
          """, logger: quietLogger)
      }
      try await eventually(observer, "the crashed node is seen") { cache, _ in cache.nodes["crashed"] != nil }
      try await eventually(observer, "the crashed node is removed after its lease", within: .seconds(5)) { cache, _ in
        cache.nodes["crashed"] == nil
      }
    }
  }

  @Test("a name held by a live node is not taken: the second node waits, saying why")
  func nameInUse() async throws {
    let url = try TestPostgres.requireURL()
    let schema = Self.schema()
    try await withDirectories([configuration(url, schema, "a")]) { first in
      try await eventually(first[0], "a is a member") { _, membership in membership != .joining }
      try await withDirectories([configuration(url, schema, "a")]) { second in
        let duplicate = second[0]
        try await eventually(duplicate, "told the name is taken") { _, _ in duplicate.problem?.contains("held by a live node") == true }
        #expect(duplicate.membership == .joining)
      }
    }
  }

  func withRawClient<R: Sendable>(_ url: String, _ body: @Sendable (PostgresClient) async throws -> R) async throws -> R {
    let components = try #require(URLComponents(string: url))
    let client = PostgresClient(
      configuration: .init(
        host: components.host ?? "127.0.0.1", port: components.port ?? 5432, username: components.user ?? "postgres",
        password: components.password, database: String(components.path.dropFirst()), tls: .disable))
    return try await withThrowingTaskGroup(of: R?.self) { group in
      group.addTask {
        await client.run()
        return nil
      }
      defer { group.cancelAll() }
      return try await body(client)
    }
  }
}
