import AgentCore

/// A question for the ``Oracle``.
public struct Question: Codable, Sendable, Equatable {
  public var text: String
  public init(text: String) { self.text = text }
}

/// The ``Oracle``'s typed answer.
public struct Answer: Codable, Sendable, Equatable {
  public var text: String
  public var confidence: Double
  public init(text: String, confidence: Double) {
    self.text = text
    self.confidence = confidence
  }
}

/// Answers questions over RPC; refuses empty ones with an error the caller sees.
public actor Oracle: RoutedAgent {
  public nonisolated let id: AgentId
  var asked = 0

  public init(id: AgentId) { self.id = id }

  struct EmptyQuestion: Error, CustomStringConvertible {
    var description: String { "the oracle does not answer empty questions" }
  }

  public static func registerHandlers(_ router: inout MessageRouter<Oracle>) {
    router.onRPC(Question.self) { oracle, question, _ in
      guard !question.text.isEmpty else { throw EmptyQuestion() }
      oracle.asked += 1
      return Answer(text: "\(oracle.id) says: the answer to '\(question.text)' is 42", confidence: 0.99)
    }
  }
}

/// Every message the examples put on the wire.
public var exampleSerializers: SerializationRegistry {
  var serializers = SerializationRegistry()
  serializers.registerJSON(Greeting.self)
  serializers.registerJSON(Question.self)
  serializers.registerJSON(Answer.self)
  return serializers
}
