import AgentCore
import AgentTestSupport
import AgentWire
import AsyncHTTPClient
import NIOHTTP1
import Foundation
@testable import GrpcHost
import Testing

@Suite("Gateway: SSE streams", .timeLimit(.minutes(1)))
struct GatewaySSETests {
  @Test("streaming invoke: event: chunk per partial result in order, then one event: result")
  func streamingInvoke() async throws {
    try await withGateway { fixture in
      let response = try await openStream(.POST, "\(fixture.base)/v1/agents/streamer/s?type=ChatMessage", body: #"{"text":"3"}"#)
      #expect(response.status == .ok)
      #expect(response.headers["Content-Type"].first == "text/event-stream")
      var reader = SSEReader(response)
      let events = try await reader.next(4)
      #expect(events.map(\.event) == ["chunk", "chunk", "chunk", "result"])
      #expect(events.prefix(3).map(\.id) == ["1", "2", "3"])
      #expect(events.prefix(3).map { ($0.json["data"] as? [String: Any])?["text"] as? String } == ["part 1", "part 2", "part 3"])
      #expect(events.prefix(3).allSatisfy { $0.json["type"] as? String == "ChatReply" })
      #expect((events[3].json["data"] as? [String: Any])?["text"] as? String == "done")
      #expect(try await reader.next() == nil, "nothing after the result")
    }
  }

  @Test("streaming invoke errors end the stream with one event: error carrying code and status")
  func streamingErrors() async throws {
    try await withGateway { fixture in
      for (path, code, status) in [
        ("nobody/k?type=ChatMessage", "unknown-agent-type", 404), ("thrower/k?type=ChatMessage", "handler-failed", 502),
        ("silent/k?type=ChatMessage&timeout=0.2", "deadline-exceeded", 504),
      ] {
        var reader = SSEReader(try await openStream(.POST, "\(fixture.base)/v1/agents/\(path)", body: #"{"text":"x"}"#))
        let events = try await reader.next(2)
        #expect(events.map(\.event) == ["error"], "\(path)")
        #expect(events.first?.json["code"] as? String == code)
        #expect(events.first?.json["status"] as? Int == status)
      }
      // Problems found before the stream starts are plain HTTP errors.
      let missingType = try await http(.POST, "\(fixture.base)/v1/agents/streamer/k", body: "{}", headers: [("Accept", "text/event-stream")])
      #expect(missingType.status == 400)
      #expect(missingType.json["code"] as? String == "invalid-argument")
    }
  }

  @Test("a client that disconnects mid-stream cancels the handler; nothing stays pending")
  func disconnectMidStream() async throws {
    try await withGateway { fixture in
      try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
          var reader = SSEReader(try await openStream(.POST, "\(fixture.base)/v1/agents/streamer/h?type=ChatMessage", body: #"{"text":"hang"}"#))
          let first = try await reader.next()
          #expect(first?.event == "chunk")
          // Returning drops the response: the client closes the connection.
        }
        try await group.waitForAll()
      }
      #expect(try await fixture.streamLog.waitFor(count: 2, timeout: .seconds(5)) == ["hanging", "cancelled"])
      #expect(await fixture.host.router.waitUntil(timeout: .seconds(5)) { $0.pendingRPCs == 0 })
    }
  }

  @Test("a client that disconnects mid-call (no SSE) cancels the handler at once; other callers are still served")
  func disconnectMidPlainCall() async throws {
    // The host's deadline is 20 s: the handler must end long before it.
    try await withGateway { fixture in
      try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
          _ = try await http(.POST, "\(fixture.base)/v1/agents/streamer/plain?type=ChatMessage", body: #"{"text":"hang"}"#)
        }
        let started = try await fixture.streamLog.waitFor(count: 1, timeout: .seconds(5))
        #expect(started == ["hanging"])
        group.cancelAll()  // the HTTP client closes the connection
      }
      #expect(try await fixture.streamLog.waitFor(count: 2, timeout: .seconds(5)) == ["hanging", "cancelled"])
      #expect(await fixture.host.router.waitUntil(timeout: .seconds(5)) { $0.pendingRPCs == 0 })
      // Keep-alive calls on other connections are unaffected.
      let answer = try await http(.POST, "\(fixture.base)/v1/agents/echo/k?type=ChatMessage", body: #"{"text":"still here"}"#)
      #expect(answer.status == 200)
    }
  }

  @Test("GET /v1/topics/{type}/events: a live tap with sequence ids, prefix and source filters, creating no agent")
  func tail() async throws {
    try await withGateway { fixture in
      let exact = try await openStream(.GET, "\(fixture.base)/v1/topics/chat/events")
      let prefixed = try await openStream(.GET, "\(fixture.base)/v1/topics/ch/events?prefix=true&source=room2")
      #expect(await fixture.host.router.waitUntil(timeout: .seconds(5)) { $0.tapReaders == 2 })
      for (source, text) in [("room1", "one"), ("room2", "two"), ("room1", "three")] {
        let result = try await http(.POST, "\(fixture.base)/v1/topics/chat/\(source)?type=ChatMessage", body: "{\"text\":\"\(text)\"}")
        #expect(result.status == 202)
      }
      _ = try await http(.POST, "\(fixture.base)/v1/topics/other/room2?type=ChatMessage", body: #"{"text":"elsewhere"}"#)
      var exactReader = SSEReader(exact)
      let events = try await exactReader.next(3)
      #expect(events.map(\.event) == ["chat", "chat", "chat"])
      #expect(events.map { ($0.json["data"] as? [String: Any])?["text"] as? String } == ["one", "two", "three"])
      #expect(events.map { $0.json["dataschema"] as? String } == ["ChatMessage", "ChatMessage", "ChatMessage"])
      let ids = events.compactMap { $0.id.flatMap(UInt64.init) }
      #expect(ids.count == 3 && ids == ids.sorted() && Set(ids).count == 3)
      var prefixReader = SSEReader(prefixed)
      let filtered = try await prefixReader.next(1)
      #expect(filtered.map { ($0.json["data"] as? [String: Any])?["text"] as? String } == ["two"])
      // A tap is passive: the echo agents got each publish once, and no agent was created for it.
      #expect(Set(try await fixture.echoLog.waitFor(count: 3)).count == 3)
    }
  }

  @Test("Last-Event-ID replays what the ring still holds, then continues live")
  func resume() async throws {
    try await withGateway { fixture in
      for text in ["a", "b", "c"] {
        _ = try await http(.POST, "\(fixture.base)/v1/topics/news/x?type=ChatMessage", body: "{\"text\":\"\(text)\"}")
      }
      var all = SSEReader(try await openStream(.GET, "\(fixture.base)/v1/topics/news/events", headers: [("Last-Event-ID", "0")]))
      let replayed = try await all.next(3)
      #expect(replayed.map { ($0.json["data"] as? [String: Any])?["text"] as? String } == ["a", "b", "c"])
      let afterFirst = replayed[0].id!
      var resumed = SSEReader(try await openStream(.GET, "\(fixture.base)/v1/topics/news/events", headers: [("Last-Event-ID", afterFirst)]))
      _ = try await http(.POST, "\(fixture.base)/v1/topics/news/x?type=ChatMessage", body: #"{"text":"d"}"#)
      let rest = try await resumed.next(3)
      #expect(rest.map { ($0.json["data"] as? [String: Any])?["text"] as? String } == ["b", "c", "d"])
      let bad = try await http(.GET, "\(fixture.base)/v1/topics/news/events", headers: [("Last-Event-ID", "abc")])
      #expect(bad.status == 400)
    }
  }

  @Test("an idle tap gets keepalive comments")
  func keepAlive() async throws {
    try await withGateway(keepAlive: .milliseconds(100)) { fixture in
      var reader = SSEReader(try await openStream(.GET, "\(fixture.base)/v1/topics/quiet/events"))
      _ = try await http(.POST, "\(fixture.base)/v1/topics/quiet/x?type=ChatMessage", body: #"{"text":"late"}"#)
      // The publish may land before or after keepalives; either way one event arrives.
      let event = try await reader.next()
      #expect(event?.event == "quiet")
      while reader.comments.filter({ $0.contains("keepalive") }).isEmpty {
        _ = try await http(.POST, "\(fixture.base)/v1/topics/quiet/x?type=ChatMessage", body: #"{"text":"again"}"#)
        _ = try await reader.next()
      }
    }
  }

  @Test("a reader that stops reading is dropped with a final event: error; publishing goes on")
  func slowReader() async throws {
    try await withGateway(tapReaderBuffer: 16) { fixture in
      let stalled = try await openStream(.GET, "\(fixture.base)/v1/topics/flood/events")
      #expect(await fixture.host.router.waitUntil(timeout: .seconds(5)) { $0.tapReaders == 1 })
      let payload = "{\"text\":\"" + String(repeating: "z", count: 4000) + "\"}"
      var published = 0
      // Publish until the unread stream's socket buffers fill and the tap drops the reader.
      while fixture.host.router.snapshot.tapReaders > 0 && published < 20_000 {
        let result = try await http(.POST, "\(fixture.base)/v1/topics/flood/x?type=ChatMessage", body: payload)
        #expect(result.status == 202)
        published += 1
      }
      #expect(fixture.host.router.snapshot.tapReaders == 0, "the stalled reader was not dropped after \(published) publishes")
      // The bus still routes: the echo agent gets a publish on its topic.
      _ = try await http(.POST, "\(fixture.base)/v1/topics/chat/after?type=ChatMessage", body: #"{"text":"after"}"#)
      #expect(try await fixture.echoLog.waitFor(count: 1) == ["echo/after got after on chat/after from nobody"])
      // Reading now drains what was written, ending with the error.
      var reader = SSEReader(stalled)
      var last: SSEEvent?
      while let event = try await reader.next() { last = event }
      #expect(last?.event == "error")
      #expect(last?.json["code"] as? String == "resource-exhausted")
    }
  }
}
