import AgentCore
@testable import GrpcHost
import Testing

@Suite("Host: where a cluster routes (pure, no transport or database)")
struct ClusterRoutesTests {
  private func id(_ type: String, _ key: String) throws -> AgentId { try AgentId(type: type, key: key) }

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
    var routes = ClusterRoutes(nodeName: "a")
    routes.update(cache(serving: ["a": ["svc"], "b": ["svc"], "c": ["other"]], placements: [("svc", "held", "b"), ("svc", "mine", "a")]))
    #expect(routes.destination(of: try id("svc", "held"), servedHere: true, fromPeer: false) == .node("b"))
    #expect(routes.destination(of: try id("svc", "mine"), servedHere: true, fromPeer: false) == .local)
    #expect(routes.destination(of: try id("ghost", "k"), servedHere: false, fromPeer: false) == .nowhere)
    // Only c serves `other`: unplaced keys go there, for c to claim.
    #expect(routes.destination(of: try id("other", "k"), servedHere: false, fromPeer: false) == .node("c"))

    // Unplaced `svc` keys: a and b share them, and each node decides alike.
    var fromB = ClusterRoutes(nodeName: "b")
    fromB.update(routes.cache)
    var seen: Set<String> = []
    for index in 0..<200 {
      let key = try id("svc", "k\(index)")
      let onA = routes.destination(of: key, servedHere: true, fromPeer: false)
      let onB = fromB.destination(of: key, servedHere: true, fromPeer: false)
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
    var routes = ClusterRoutes(nodeName: "a")
    routes.update(cache(serving: ["a": ["svc"], "b": ["svc"]], placements: [("svc", "held", "b")]))
    for index in 0..<20 {
      #expect(routes.destination(of: try id("svc", "k\(index)"), servedHere: true, fromPeer: true) == .claim)
      #expect(routes.destination(of: try id("svc", "k\(index)"), servedHere: false, fromPeer: true) == .nowhere)
    }
    // An owner the directory recorded is still followed.
    #expect(routes.destination(of: try id("svc", "held"), servedHere: true, fromPeer: true) == .node("b"))
  }

  @Test("a claim's answer counts before its notification; a node that leaves takes its placements with it")
  func claimsAndDepartures() throws {
    var routes = ClusterRoutes(nodeName: "a")
    var directory = cache(serving: ["a": ["svc"], "b": ["svc"]])
    routes.update(directory)
    let key = try id("svc", "k")
    routes.record(key, owner: "b")
    #expect(routes.destination(of: key, servedHere: true, fromPeer: false) == .node("b"))
    routes.update(directory)  // the notification has not come yet: the answer stands
    #expect(routes.destination(of: key, servedHere: true, fromPeer: false) == .node("b"))
    directory.apply(.placed(.init(agentType: "svc", key: "k"), node: "b", generation: 2))
    routes.update(directory)
    #expect(routes.destination(of: key, servedHere: true, fromPeer: false) == .node("b"))
    // b leaves: its placements go, and the key is decided again among the nodes left.
    directory.apply(.nodeLeft(name: "b", generation: 2))
    routes.update(directory)
    #expect(routes.destination(of: key, servedHere: true, fromPeer: false) == .claim)
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
