import AgentCore
import GrpcHost
import HostCluster
import Testing

/// The directory cache as a pure value: changes applied in any order leave what the database holds.
@Suite("Cluster: the directory cache")
struct DirectoryCacheTests {
  let key = DirectoryCache.PlacementKey(agentType: "svc", key: "k")

  @Test("a node's types, subscriptions and placements go when it leaves or joins again as a new generation")
  func nodeLifecycle() throws {
    var cache = DirectoryCache()
    cache.apply(.nodeJoined(ClusterNode(name: "a", address: "127.0.0.1:1", generation: 1)))
    cache.apply(.typeAdded(node: "a", agentType: "svc"))
    cache.apply(.placed(key, node: "a", generation: 1))
    cache.apply(.subscribed(ClusterSubscription(id: "s1", node: "a", kind: "type", topic: "news", agentType: "svc")))
    #expect(cache.nodes(serving: "svc") == ["a"])
    #expect(cache.owner(of: try AgentId(type: "svc", key: "k")) == "a")

    // A late notification of the old generation's departure cannot remove the new one.
    cache.apply(.nodeJoined(ClusterNode(name: "a", address: "127.0.0.1:2", generation: 5)))
    #expect(cache.placements.isEmpty && cache.types.isEmpty && cache.subscriptions.isEmpty)
    cache.apply(.nodeLeft(name: "a", generation: 1))
    #expect(cache.nodes["a"]?.generation == 5)
    cache.apply(.nodeJoined(ClusterNode(name: "a", address: "127.0.0.1:1", generation: 1)))  // stale: ignored
    #expect(cache.nodes["a"]?.address == "127.0.0.1:2")
    cache.apply(.nodeLeft(name: "a", generation: 5))
    #expect(cache.nodes.isEmpty)
  }

  @Test("an unplacement removes only the placement it names; applying twice changes nothing")
  func placements() throws {
    var cache = DirectoryCache()
    cache.apply(.nodeJoined(ClusterNode(name: "a", address: "a:1", generation: 1)))
    cache.apply(.nodeJoined(ClusterNode(name: "b", address: "b:1", generation: 2)))
    cache.apply(.placed(key, node: "a", generation: 1))
    cache.apply(.unplaced(key, node: "a", generation: 1))
    cache.apply(.placed(key, node: "b", generation: 2))
    let before = cache
    cache.apply(.unplaced(key, node: "a", generation: 1))  // late: b holds it now
    cache.apply(.placed(key, node: "b", generation: 2))
    #expect(cache == before)
    #expect(cache.owner(of: try AgentId(type: "svc", key: "k")) == "b")
    // A placement on a node the cache does not know is no owner.
    cache.apply(.nodeLeft(name: "b", generation: 2))
    #expect(cache.owner(of: try AgentId(type: "svc", key: "k")) == nil)
  }
}
