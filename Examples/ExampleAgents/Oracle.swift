public import AgentCore

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

/// A partial answer the ``Oracle`` streams before its ``Answer`` (one word at a time).
public struct AnswerChunk: Codable, Sendable, Equatable {
  public var text: String
  public init(text: String) { self.text = text }
}

/// Answers questions over RPC, streaming the answer word by word to callers that ask for a
/// stream; refuses empty questions with an error the caller sees.
public actor Oracle: RoutedAgent {
  public nonisolated let id: AgentId
  var asked = 0

  public init(id: AgentId) { self.id = id }

  struct EmptyQuestion: Error, CustomStringConvertible {
    var description: String { "the oracle does not answer empty questions" }
  }

  public static func registerHandlers(_ router: inout MessageRouter<Oracle>) {
    router.onRPC(Question.self) { oracle, question, context in
      guard !question.text.isEmpty else { throw EmptyQuestion() }
      oracle.asked += 1
      let text = "\(oracle.id) says: the answer to '\(question.text)' is 42"
      for word in text.split(separator: " ") {  // dropped unless the caller streams
        try await context.stream(AnswerChunk(text: String(word)))
      }
      return Answer(text: text, confidence: 0.99)
    }
  }
}

/// Every message the examples put on the wire.
public var exampleSerializers: SerializationRegistry {
  var serializers = SerializationRegistry()
  serializers.registerJSON(Greeting.self)
  serializers.registerJSON(Question.self)
  serializers.registerJSON(Answer.self)
  serializers.registerJSON(AnswerChunk.self)
  return serializers
}
