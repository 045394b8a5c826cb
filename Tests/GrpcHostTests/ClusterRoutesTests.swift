import AgentCore
@testable import GrpcHost
import Testing

@Suite("Host: where a cluster routes (pure, no transport or database)")
struct ClusterRoutesTests {
  private func id(_ type: String, _ key: String) throws -> AgentId { try AgentId(type: type, key: key) }

  /// Where `routes` sends `id`, with `directory` as the directory's cache (its placements).
  private func destination(
    _ routes: ClusterRoutes, _ id: AgentId, in directory: DirectoryCache, servedHere: Bool, fromPeer: Bool = false
  ) -> ClusterRoutes.Destination {
    routes.destination(of: id, owner: directory.owner(of: id), servedHere: servedHere, fromPeer: fromPeer)
  }

  /// A cache with nodes a, b and c, where `serving` lists the types of each.
  private func cache(serving: [String: [String]], placements: [(String, String, String)] = []) -> DirectoryCache {
    var cache = DirectoryCache()
    for (index, name) in ["a", "b", "c"].enumerated() {
      cache.apply(.nodeJoined(ClusterNode(name: name, address: "127.0.0.1:\(5000 + index)", generation: Int64(index + 1))))
    }
    for (node, types) in serving {
      for type in types { cache.apply(.typeAdded(node: node, agentType: type)) }
    }
    for (type, key, node) in placements {
      cache.apply(.placed(.init(agentType: type, key: key), node: node, generation: cache.nodes[node]!.generation))
    }
    return cache
  }

  @Test("a placed instance goes to its owner; an unplaced one to the node hashing picks among those serving its type, which claims it")
  func destinations() throws {
    let directory = cache(serving: ["a": ["svc"], "b": ["svc"], "c": ["other"]], placements: [("svc", "held", "b"), ("svc", "mine", "a")])
    var routes = ClusterRoutes(nodeName: "a")
    routes.update(directory)
    #expect(routes.cache.placements.isEmpty)  // placements stay in the directory
    #expect(destination(routes, try id("svc", "held"), in: directory, servedHere: true) == .node("b"))
    #expect(destination(routes, try id("svc", "mine"), in: directory, servedHere: true) == .local)
    #expect(destination(routes, try id("ghost", "k"), in: directory, servedHere: false) == .nowhere)
    // Only c serves `other`: unplaced keys go there, for c to claim.
    #expect(destination(routes, try id("other", "k"), in: directory, servedHere: false) == .node("c"))
    // A node this node has no link to is out of the choice.
    #expect(routes.destination(of: try id("other", "k"), owner: nil, servedHere: false, fromPeer: false, isLinked: { $0 != "c" }) == .nowhere)

    // Unplaced `svc` keys: a and b share them, and each node decides alike.
    var fromB = ClusterRoutes(nodeName: "b")
    fromB.update(directory)
    var seen: Set<String> = []
    for index in 0..<200 {
      let key = try id("svc", "k\(index)")
      let onA = destination(routes, key, in: directory, servedHere: true)
      let onB = destination(fromB, key, in: directory, servedHere: true)
      switch (onA, onB) {
      case (.claim, .node("a")): seen.insert("a")
      case (.node("b"), .claim): seen.insert("b")
      default: Issue.record("\(key): a says \(onA), b says \(onB)")
      }
    }
    #expect(seen == ["a", "b"])
  }

  @Test("a message from a peer is never passed on by hashing: it is claimed here, or dropped when nothing here serves the type")
  func fromPeers() throws {
    let directory = cache(serving: ["a": ["svc"], "b": ["svc"]], placements: [("svc", "held", "b")])
    var routes = ClusterRoutes(nodeName: "a")
    routes.update(directory)
    for index in 0..<20 {
      #expect(destination(routes, try id("svc", "k\(index)"), in: directory, servedHere: true, fromPeer: true) == .claim)
      #expect(destination(routes, try id("svc", "k\(index)"), in: directory, servedHere: false, fromPeer: true) == .nowhere)
    }
    // An owner the directory recorded is still followed.
    #expect(destination(routes, try id("svc", "held"), in: directory, servedHere: true, fromPeer: true) == .node("b"))
  }

  @Test("a node that leaves takes its placements with it: their keys are decided again among the nodes left")
  func departures() throws {
    var directory = cache(serving: ["a": ["svc"], "b": ["svc"]], placements: [("svc", "k", "b")])
    var routes = ClusterRoutes(nodeName: "a")
    routes.update(directory)
    let key = try id("svc", "k")
    #expect(destination(routes, key, in: directory, servedHere: true) == .node("b"))
    directory.apply(.nodeLeft(name: "b", generation: 2))
    routes.update(directory)
    #expect(destination(routes, key, in: directory, servedHere: true) == .claim)
  }

  @Test("other nodes' subscriptions match topics here; this node's own are left to its own index; ids are known cluster-wide")
  func remoteSubscriptions() throws {
    var directory = cache(serving: ["b": ["listener"], "c": ["watcher"]])
    directory.apply(.subscribed(ClusterSubscription(id: "s1", node: "b", kind: "type", topic: "news", agentType: "listener")))
    directory.apply(.subscribed(ClusterSubscription(id: "s2", node: "c", kind: "prefix", topic: "ne", agentType: "watcher")))
    directory.apply(.subscribed(ClusterSubscription(id: "s3", node: "a", kind: "type", topic: "news", agentType: "local")))
    var routes = ClusterRoutes(nodeName: "a")
    routes.update(directory)
    #expect(routes.remoteTypes(matching: try TopicId(type: "news", source: "s")) == [AgentType("listener"), AgentType("watcher")])
    #expect(routes.remoteTypes(matching: try TopicId(type: "other", source: "s")).isEmpty)
    #expect(routes.remoteOwner(ofSubscription: "s1") == "b")
    #expect(routes.remoteOwner(ofSubscription: "s3") == nil)
  }

  @Test("rendezvous hashing moves only the keys of a node that goes")
  func rendezvous() throws {
    let keys = try (0..<300).map { try id("svc", "k\($0)") }
    let before = keys.map { ClusterRoutes.rendezvous(["a", "b", "c"], $0)! }
    let after = keys.map { ClusterRoutes.rendezvous(["a", "c"], $0)! }
    for (old, new) in zip(before, after) where old != "b" { #expect(old == new) }
    let counts = Dictionary(grouping: before, by: { $0 }).mapValues(\.count)
    #expect(counts.values.allSatisfy { $0 > 60 }, "spread: \(counts)")
  }
}
