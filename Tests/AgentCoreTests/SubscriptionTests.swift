import AgentCore
import AgentTestSupport
import Testing

@Suite("Subscriptions")
struct SubscriptionTests {
  let assistant = AgentType("assistant")
  let other = AgentType("other")

  @Test("type subscription matches the exact topic type and maps the source to the key")
  func typeSubscription() throws {
    let subscription = try Subscription(filter: .type("chat"), agentType: assistant)
    let topic = try TopicId(type: "chat", source: "room-1")
    #expect(subscription.matches(topic))
    #expect(subscription.recipient(for: topic) == (try AgentId(type: "assistant", key: "room-1")))
    #expect(!subscription.matches(try TopicId(type: "chat2", source: "room-1")))
    #expect(!subscription.matches(try TopicId(type: "cha", source: "room-1")))
  }

  @Test("type-prefix subscription matches topic types starting with the prefix")
  func prefixSubscription() throws {
    let subscription = try Subscription(filter: .typePrefix("assistant:"), agentType: assistant)
    #expect(subscription.matches(try TopicId(type: "assistant:", source: "k")))
    #expect(subscription.matches(try TopicId(type: "assistant:rpc=1", source: "k")))
    #expect(!subscription.matches(try TopicId(type: "assistant", source: "k")))
    #expect(!subscription.matches(try TopicId(type: "other:x", source: "k")))
    #expect(subscription.recipient(for: try TopicId(type: "assistant:x", source: "k9")).key == "k9")
    #expect(Subscription.directMessages(for: assistant).filter == .typePrefix("assistant:"))
  }

  @Test("default subscription matches the default topic")
  func defaultSubscription() throws {
    let subscription = Subscription.defaultSubscription(for: assistant)
    #expect(subscription.filter == .type("default"))
    #expect(subscription.matches(.default(source: "x")))
    #expect(subscription.recipient(for: .default(source: "x")) == (try AgentId(type: "assistant", key: "x")))
    #expect(!subscription.matches(try TopicId(type: "default2", source: "x")))
  }

  @Test("invalid filter topic types are rejected")
  func invalidFilter() {
    #expect(throws: AgentRuntimeError.self) { try Subscription(filter: .type("a b"), agentType: assistant) }
    #expect(throws: AgentRuntimeError.self) { try Subscription(filter: .typePrefix(""), agentType: assistant) }
  }

  @Test("duplicates: same id, or same agent type and filter")
  func duplicates() throws {
    var set = SubscriptionSet()
    let first = try Subscription(id: "s1", filter: .type("chat"), agentType: assistant)
    try set.add(first)
    // Same id, different everything else.
    let sameId = try Subscription(id: "s1", filter: .typePrefix("x"), agentType: other)
    let error = #expect(throws: AgentRuntimeError.self) { try set.add(sameId) }
    #expect(error?.code == .alreadyExists)
    #expect(error?.message.contains("already exists") == true)
    // Same agent type and filter, different id.
    #expect(throws: AgentRuntimeError.self) {
      try set.add(try Subscription(id: "s2", filter: .type("chat"), agentType: assistant))
    }
    // Same filter, other agent type: fine. Same type, prefix filter with same text: fine.
    try set.add(try Subscription(id: "s3", filter: .type("chat"), agentType: other))
    try set.add(try Subscription(id: "s4", filter: .typePrefix("chat"), agentType: assistant))
    #expect(set.count == 3)
  }

  @Test("remove by id, unknown id names the id")
  func remove() throws {
    var set = SubscriptionSet()
    try set.add(try Subscription(id: "s1", filter: .type("chat"), agentType: assistant))
    let removed = try set.remove(id: "s1")
    #expect(removed.id == "s1")
    let error = #expect(throws: AgentRuntimeError.self) { try set.remove(id: "s1") }
    #expect(error?.code == .notFound)
    #expect(error?.message.contains("'s1'") == true)
  }

  @Test("recipients: one per matching agent type, in order added")
  func recipients() throws {
    var set = SubscriptionSet()
    try set.add(try Subscription(filter: .type("chat"), agentType: assistant))
    try set.add(try Subscription(filter: .typePrefix("ch"), agentType: assistant))  // overlaps
    try set.add(try Subscription(filter: .typePrefix("c"), agentType: other))
    try set.add(try Subscription(filter: .type("news"), agentType: other))
    let topic = try TopicId(type: "chat", source: "k")
    #expect(set.recipients(for: topic) == [AgentId(type: assistant, key: "k"), AgentId(type: other, key: "k")])
    #expect(set.matching(topic).count == 3)
    #expect(set.recipients(for: try TopicId(type: "weather", source: "k")).isEmpty)
    let removed = set.removeAll { $0.agentType == other }
    #expect(removed.count == 2)
    #expect(set.recipients(for: topic) == [AgentId(type: assistant, key: "k")])
  }
}
