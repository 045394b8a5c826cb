import AgentCore
@testable import GrpcHost
import Testing

@Suite("Host: subscription index")
struct SubscriptionIndexTests {
  private func subscription(_ id: String, _ filter: TopicFilter, _ type: String) throws -> Subscription {
    try Subscription(id: id, filter: filter, agentType: AgentType(type))
  }

  @Test("matching agrees with each subscription's own filter, through adds and removes")
  func agreesWithFilters() throws {
    var index = SubscriptionIndex()
    var live: [Subscription] = []
    let patterns = ["a", "a:", "a:b", "ab", "b", "b.c", "ä", "ä:", "long.topic.type", "long."]
    var generator = SystemRandomNumberGenerator()
    for step in 0..<400 {
      if !live.isEmpty, Int.random(in: 0..<3, using: &generator) == 0 {
        let removed = live.remove(at: Int.random(in: 0..<live.count, using: &generator))
        try index.remove(id: removed.id)
      } else {
        let pattern = patterns.randomElement(using: &generator)!
        let filter: TopicFilter = Bool.random(using: &generator) ? .type(pattern) : .typePrefix(pattern)
        let candidate = try subscription("s\(step)", filter, "t\(Int.random(in: 0..<4, using: &generator))")
        do {
          try index.add(candidate, owner: "w\(Int.random(in: 0..<3, using: &generator))")
          live.append(candidate)
        } catch {
          #expect(error.code == .alreadyExists)
        }
      }
      for topicType in patterns + ["a:b:c", "c", "äx", "long.topic.typeX", "lon"] {
        let topic = try TopicId(type: topicType, source: "k")
        let expected = Set(live.filter { $0.matches(topic) }.map(\.agentType)).sorted()
        #expect(index.agentTypes(matching: topic) == expected, "topic \(topicType) at step \(step)")
      }
    }
  }

  @Test("a prefix matches by UTF-8 bytes; a cut inside a scalar matches nothing")
  func utf8Prefixes() throws {
    var index = SubscriptionIndex()
    try index.add(subscription("1", .typePrefix("ä"), "umlaut"), owner: "w")
    try index.add(subscription("2", .typePrefix("a"), "plain"), owner: "w")
    #expect(index.agentTypes(matching: try TopicId(type: "äb", source: "k")).map(\.name) == ["umlaut"])
    #expect(index.agentTypes(matching: try TopicId(type: "ab", source: "k")).map(\.name) == ["plain"])
    // "ö" is two bytes, the first of which is also the first byte of "ä": no match for a one-byte cut.
    #expect(index.agentTypes(matching: try TopicId(type: "ö", source: "k")).isEmpty)
  }

  @Test("2,000 direct-message prefixes: each topic matches only its own type, and removal forgets them")
  func manyPrefixes() throws {
    var index = SubscriptionIndex()
    for worker in 0..<2_000 {
      let type = try AgentType("agent_\(worker)")
      try index.add(Subscription.directMessages(for: type), owner: "w\(worker)")
      try index.add(subscription("t\(worker)", .type("topic_\(worker)"), type.name), owner: "w\(worker)")
    }
    #expect(index.count == 4_000)
    #expect(index.agentTypes(matching: try TopicId(type: "agent_1242:", source: "k")).map(\.name) == ["agent_1242"])
    #expect(index.agentTypes(matching: try TopicId(type: "topic_77", source: "k")).map(\.name) == ["agent_77"])
    #expect(index.agentTypes(matching: try TopicId(type: "agent_1242", source: "k")).isEmpty)
    for worker in 0..<2_000 { _ = index.removeAll(ownedBy: "w\(worker)") }
    #expect(index.count == 0)
    #expect(index.agentTypes(matching: try TopicId(type: "agent_1:", source: "k")).isEmpty)
  }
}
