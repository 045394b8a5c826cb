import AgentCore
import AgentTestSupport
import Testing

@Suite("Ids and topics")
struct IdentityTests {
  @Test("valid agent types", arguments: ["chat", "a", "planner.v2", "my-agent_1", "Agent9", "ägent", "x.y-z_0", "日本語", "a٣"])
  func validAgentTypes(name: String) throws {
    #expect(try AgentType(name).name == name)
    #expect(AgentType.isValid(name))
  }

  @Test("invalid agent types", arguments: ["", "has space", "a/b", "colon:type", "eq=x", "star*", "new\nline", "ä b", "x\u{00A0}y", "ü/k", "é:"])
  func invalidAgentTypes(name: String) {
    let error = #expect(throws: AgentRuntimeError.self) { try AgentType(name) }
    #expect(error?.code == .invalidArgument)
    #expect(error?.message.contains("'\(name)'") == true)
    #expect(error?.message.contains(#"^[\w\-\.]+$"#) == true)
  }

  @Test("string literals make checked ids and topics without try")
  func literals() {
    let type: AgentType = "planner.v2"
    let id: AgentId = "chat/room/42"
    let topic: TopicId = "audit.events/site-1"
    let defaultSource: TopicId = "news"
    #expect(type.name == "planner.v2")
    #expect(id.type.name == "chat" && id.key == "room/42")
    #expect(topic.type == "audit.events" && topic.source == "site-1")
    #expect(defaultSource.type == "news" && defaultSource.source == "default")
  }

  @Test("an invalid literal stops the program with the rule it breaks")
  func invalidLiteral() async {
    await #expect(processExitsWith: .failure) {
      let bad: AgentType = "has space"
      _ = bad
    }
  }

  @Test("agent id string form and parsing split at the first slash")
  func agentIdParsing() throws {
    let id = try AgentId(type: "chat", key: "room/42")
    #expect(id.description == "chat/room/42")
    let parsed = try AgentId(parsing: "chat/room/42")
    #expect(parsed == id)
    #expect(parsed.key == "room/42")
    #expect(try AgentId(parsing: "chat/").key == "")
    #expect(try AgentId(type: "chat", key: "any text: even spaces & ünïcode").key == "any text: even spaces & ünïcode")
  }

  @Test("agent id parsing rejects bad input", arguments: ["nokey", "bad type/key", "/key"])
  func agentIdParsingErrors(text: String) {
    let error = #expect(throws: AgentRuntimeError.self) { try AgentId(parsing: text) }
    #expect(error?.code == .invalidArgument)
  }

  @Test("valid topic types", arguments: ["default", "chat.room", "T:", "a=b", "x-y_z:1=2", "ä:ö=1"])
  func validTopics(type: String) throws {
    let topic = try TopicId(type: type, source: "any source / with slash")
    #expect(topic.type == type)
    #expect(topic.source == "any source / with slash")
  }

  @Test("invalid topic types", arguments: ["", "a b", "a/b", "a*", "#", "ä b", "ü/1"])
  func invalidTopics(type: String) {
    let error = #expect(throws: AgentRuntimeError.self) { try TopicId(type: type, source: "s") }
    #expect(error?.code == .invalidArgument)
    #expect(error?.message.contains("topic type '\(type)'") == true)
  }

  @Test("default topic takes its source from the running handler")
  func defaultTopic() throws {
    #expect(TopicId.default() == (try TopicId(type: "default", source: "default")))
    #expect(TopicId.default(source: "s").source == "s")
    let context = MessageContext(
      recipient: try AgentId(type: "a", key: "k7"), sender: nil, topic: nil, isRPC: false, messageId: "m")
    MessageContext.$current.withValue(context) {
      #expect(TopicId.default().source == "k7")
    }
  }
}
