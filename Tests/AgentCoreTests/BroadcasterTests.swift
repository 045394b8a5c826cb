@testable import AgentCore
import Testing

@Suite("Broadcaster", .timeLimit(.minutes(1)))
struct BroadcasterTests {
  @Test("every subscriber gets every value from when it subscribed; finish ends them all, and later subscribers at once")
  func fanOut() async {
    let broadcaster = Broadcaster<Int>()
    let early = broadcaster.subscribe(startingWith: 0)
    broadcaster.yield(1)
    let late = broadcaster.subscribe()
    broadcaster.yield(2)
    #expect(broadcaster.subscriberCount == 2)
    broadcaster.finish(with: 3)
    broadcaster.finish(with: 4)  // only the first finish counts
    broadcaster.yield(5)  // nobody is left to get it
    var earlyValues: [Int] = []
    for await value in early { earlyValues.append(value) }
    var lateValues: [Int] = []
    for await value in late { lateValues.append(value) }
    #expect(earlyValues == [0, 1, 2, 3])
    #expect(lateValues == [2, 3])
    var afterValues: [Int] = []
    for await value in broadcaster.subscribe(startingWith: 9) { afterValues.append(value) }
    #expect(afterValues == [9, 3])
    #expect(broadcaster.subscriberCount == 0)
  }

  @Test("a subscriber that stops listening is dropped")
  func dropsGoneSubscribers() async {
    let broadcaster = Broadcaster<Int>(bufferingPolicy: .bufferingNewest(1))
    do {
      var iterator = broadcaster.subscribe(startingWith: 1).makeAsyncIterator()
      #expect(await iterator.next() == 1)
      #expect(broadcaster.subscriberCount == 1)
    }
    // The stream and its iterator are gone: its termination handler removed it.
    #expect(broadcaster.subscriberCount == 0)
  }
}

@Suite("Serializers derived from handlers")
struct DerivedSerializerTests {
  actor Mixed: RoutedAgent {
    nonisolated let id: AgentId
    init(id: AgentId) { self.id = id }
    struct Question: Codable, Sendable { var text: String }
    struct Answer: Codable, Sendable { var text: String }
    struct Local: Sendable {}

    static func registerHandlers(_ router: inout MessageRouter<Mixed>) {
      router.onRPC(Question.self) { _, question, _ in Answer(text: question.text) }
      router.onEvent(Local.self) { _, _, _ in }
    }
  }

  @Test("Codable request and result types are registered as JSON under their bare names; other types are left out")
  func derived() throws {
    let serializers = Mixed.router.serializers
    #expect(serializers.registeredTypes.map(\.typeName) == ["Answer", "Question"])
    #expect(!serializers.canSerialize(Mixed.Local.self))
    // What is registered explicitly wins over what is derived.
    var explicit = SerializationRegistry()
    explicit.registerJSON(Mixed.Question.self, typeName: "my.Question")
    explicit.formUnion(serializers)
    #expect(try explicit.serialize(Mixed.Question(text: "x")).typeName == "my.Question")
    #expect(try explicit.serialize(Mixed.Answer(text: "x")).typeName == "Answer")
  }
}
