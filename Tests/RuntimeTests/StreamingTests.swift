import AgentCore
import AgentTestSupport
import Testing

/// Streamed calls: one body, run in-process and across processes through a host.
@Suite("Streamed calls", .timeLimit(.minutes(1)))
struct StreamingTests {
  @Test("chunks arrive in order, then the typed result, then the stream ends", arguments: RuntimeKind.allCases)
  func chunksThenResult(kind: RuntimeKind) async throws {
    try await withRuntimes(kind) { runtimes in
      let log = Recorder<String>()
      try await runtimes[1].register(AgentType("streamer")) { id, _ in StreamingAgent(id: id, log: log) }
      var chunks: [String] = []
      var result: ChatReply?
      for try await element in runtimes[0].stream(
        ChatMessage(text: "5"), to: try AgentId(type: "streamer", key: "k"), returning: ChatReply.self, timeout: .seconds(10))
      {
        switch element {
        case .chunk(let chunk):
          #expect(result == nil, "a chunk after the result")
          chunks.append((chunk as? ChatReply)?.text ?? "unexpected \(chunk)")
        case .result(let reply):
          #expect(result == nil, "two results")
          result = reply
        }
      }
      #expect(chunks == (1...5).map { "part \($0)" })
      #expect(result == ChatReply(text: "done"))
      #expect(try await log.waitFor(count: 1) == ["streamed 5 streaming=true"])
    }
  }

  @Test("a plain send to a streaming handler gets the result only; the handler sees no stream", arguments: RuntimeKind.allCases)
  func plainSendToStreamer(kind: RuntimeKind) async throws {
    try await withRuntimes(kind) { runtimes in
      let log = Recorder<String>()
      try await runtimes[1].register(AgentType("streamer")) { id, _ in StreamingAgent(id: id, log: log) }
      let reply = try await runtimes[0].send(
        ChatMessage(text: "3"), to: try AgentId(type: "streamer", key: "k"), returning: ChatReply.self, timeout: .seconds(10))
      #expect(reply == ChatReply(text: "done"))
      #expect(try await log.waitFor(count: 1) == ["streamed 3 streaming=false"])
    }
  }

  @Test("a handler that never streams serves a streamed call with its result alone", arguments: RuntimeKind.allCases)
  func nonStreamingHandler(kind: RuntimeKind) async throws {
    try await withRuntimes(kind) { runtimes in
      try await runtimes[1].register(AgentType("echo")) { id, _ in EchoAgent(id: id, log: Recorder()) }
      var elements: [String] = []
      for try await element in runtimes[0].stream(
        ChatMessage(text: "hi"), to: try AgentId(type: "echo", key: "e"), returning: ChatReply.self, timeout: .seconds(10))
      {
        if case .result(let reply) = element { elements.append(reply.text) } else { elements.append("chunk") }
      }
      #expect(elements.count == 1)
      #expect(elements.first?.hasPrefix("e heard hi") == true)
    }
  }

  @Test("a consumer that stops reading cancels the call and its handler", arguments: RuntimeKind.allCases)
  func consumerGoesAway(kind: RuntimeKind) async throws {
    try await withRuntimes(kind) { runtimes in
      let log = Recorder<String>()
      try await runtimes[1].register(AgentType("streamer")) { id, _ in StreamingAgent(id: id, log: log) }
      // The stream is not kept: leaving the loop releases it, which ends the call.
      for try await element in runtimes[0].stream(
        ChatMessage(text: "hang"), to: try AgentId(type: "streamer", key: "k"), returning: ChatReply.self, timeout: .seconds(30))
      {
        if case .chunk = element { break }  // stop after the first chunk
      }
      // In-process the stream's end cancels the handler; over gRPC the caller's cancel notice
      // reaches the callee through the host.
      #expect(try await log.waitFor(count: 2, timeout: .seconds(5)) == ["hanging", "cancelled"])
    }
  }

  @Test("an error from a streaming handler ends the stream with that error", arguments: RuntimeKind.allCases)
  func streamedError(kind: RuntimeKind) async throws {
    try await withRuntimes(kind) { runtimes in
      try await runtimes[1].register(AgentType("thrower")) { id, _ in ThrowingAgent(id: id) }
      let error = await #expect(throws: AgentRuntimeError.self) {
        for try await _ in runtimes[0].stream(
          ChatMessage(text: "x"), to: try AgentId(type: "thrower", key: "t"), returning: ChatReply.self, timeout: .seconds(10))
        {}
      }
      #expect(error?.code == .handlerFailed)
    }
  }
}
