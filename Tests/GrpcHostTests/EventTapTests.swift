import AgentCore
import AgentWire
import Foundation
import SwiftProtobuf
import Synchronization
@testable import GrpcHost
import Testing

/// The tap behind SSE and `Subscribe`, without a transport: feeds shared per filter, readers as
/// positions, dropping, replay, waking and shutdown.
@Suite("Gateway: event tap", .timeLimit(.minutes(1)))
struct EventTapTests {
  private func event(_ type: String, _ source: String, _ text: String = "x") throws -> RawCloudEvent {
    let published = PublishedEvent(
      topic: try TopicId(type: type, source: source), sender: nil, messageId: UUID().uuidString,
      payload: SerializedPayload(typeName: "T", contentType: ContentType.json, data: Data("{\"text\":\"\(text)\"}".utf8)))
    return try RawCloudEvent(bytes: try Io_Cloudevents_V1_CloudEvent(published).serializedBytes())
  }

  /// What `reader` takes next, as "sequence type/source" lines.
  private func taken(_ reader: TapReader) async throws -> [String] {
    let items = await reader.next()
    return (items ?? []).compactMap { item in
      guard case .event(let tapped) = item else { return nil }
      return "\(tapped.sequence) \(tapped.event.type)/\(tapped.event.source)"
    }
  }

  @Test("each reader gets every event its filter matches, once and in order; readers of one filter share its feed")
  func filters() async throws {
    let tap = EventTap(ringCapacity: 0)
    let exact = [tap.open(TapFilter(topicType: "a")), tap.open(TapFilter(topicType: "a"))]
    let prefix = tap.open(TapFilter(topicType: "a", isPrefix: true))
    let sourced = tap.open(TapFilter(topicType: "a", source: "s1"))
    let other = tap.open(TapFilter(topicType: "b"))
    #expect(tap.openReaders == 5)
    for (type, source) in [("a", "s1"), ("a", "s2"), ("ab", "s1"), ("b", "s1"), ("c", "s1")] {
      tap.offer(try event(type, source))
    }
    for reader in exact { #expect(try await taken(reader) == ["1 a/s1", "2 a/s2"]) }
    #expect(try await taken(prefix) == ["1 a/s1", "2 a/s2", "3 ab/s1"])
    #expect(try await taken(sourced) == ["1 a/s1"])
    #expect(try await taken(other) == ["4 b/s1"])
    // The next batch holds only what came after the last one.
    tap.offer(try event("a", "s1"))
    #expect(try await taken(exact[0]) == ["6 a/s1"])
    #expect(try await taken(exact[1]) == ["6 a/s1"])
    for reader in exact + [prefix, sourced, other] { reader.close() }
    #expect(tap.openReaders == 0)
  }

  @Test("the readers of an event share it and its rendering: the frame is made once, whichever reader asks first")
  func sharedRendering() async throws {
    let tap = EventTap(ringCapacity: 0)
    let readers = [tap.open(TapFilter(topicType: "a")), tap.open(TapFilter(topicType: "a")), tap.open(TapFilter(topicType: "a", isPrefix: true))]
    tap.offer(try event("a", "s1"))
    var events: [TappedEvent] = []
    for reader in readers {
      guard case .event(let tapped)? = await reader.next()?.first else {
        Issue.record("no event")
        return
      }
      events.append(tapped)
    }
    #expect(events.allSatisfy { $0 === events[0] })
    let made = Counter()
    let frames = await withTaskGroup(of: [UInt8].self) { group in
      for tapped in events {
        group.addTask { tapped.rendered { made.add(); return Array("frame \(tapped.sequence)".utf8) } }
      }
      return await group.reduce(into: [[UInt8]]()) { $0.append($1) }
    }
    #expect(frames.allSatisfy { $0 == Array("frame 1".utf8) })
    // Two readers that find it unmade at the same moment may both make it; one is kept.
    #expect((1...3).contains(made.value))
    #expect(events[0].rendered { Array("again".utf8) } == Array("frame 1".utf8))
    for reader in readers { reader.close() }
  }

  @Test("a reader more than the buffer behind is dropped as the feed moves past it; the others read on")
  func dropsTheSlow() async throws {
    let tap = EventTap(ringCapacity: 0, readerBuffer: 4)
    let changes = Counter()
    tap.observeReaders { changes.add() }
    let (fast, slow) = (tap.open(TapFilter(topicType: "a")), tap.open(TapFilter(topicType: "a")))
    for round in 0..<3 {
      for _ in 0..<3 { tap.offer(try event("a", "s")) }
      #expect(try await taken(fast).count == 3, "round \(round)")
    }
    // 9 events: the slow reader fell more than 4 behind at the fifth.
    #expect(slow.overflowed)
    #expect(!fast.overflowed)
    #expect(tap.openReaders == 1)
    #expect(changes.value == 3)  // two opens, one drop
    #expect(await slow.next() == nil)
    slow.close()  // already gone: no change
    #expect(tap.openReaders == 1)
    #expect(changes.value == 3)
  }

  @Test("a reader exactly the buffer behind is kept and gets all of it")
  func bufferIsKept() async throws {
    let tap = EventTap(ringCapacity: 0, readerBuffer: 4)
    let reader = tap.open(TapFilter(topicType: "a"))
    for _ in 0..<4 { tap.offer(try event("a", "s")) }
    #expect(try await taken(reader) == ["1 a/s", "2 a/s", "3 a/s", "4 a/s"])
    #expect(!reader.overflowed)
  }

  @Test("a feed holds what its slowest reader has not taken, not the whole buffer")
  func heldEvents() async throws {
    let tap = EventTap(ringCapacity: 0, readerBuffer: 4096)
    let (keeping, lagging) = (tap.open(TapFilter(topicType: "a")), tap.open(TapFilter(topicType: "a")))
    for _ in 0..<1_000 {
      tap.offer(try event("a", "s"))
      #expect(try await taken(keeping).count == 1)
    }
    // The lagging reader has taken nothing: the feed keeps all 1,000 for it.
    #expect(tap.heldEvents == 1_000)
    #expect(try await taken(lagging).count == 1_000)
    for _ in 0..<(2 * TapState.compactionPeriod) {
      tap.offer(try event("a", "s"))
      _ = try await taken(keeping)
      _ = try await taken(lagging)
    }
    #expect(tap.heldEvents <= TapState.compactionPeriod)
    lagging.close()
    keeping.close()
    #expect(tap.heldEvents == 0)
  }

  @Test("resuming after a sequence replays the ring's matching events, then live ones, none twice")
  func replay() async throws {
    let tap = EventTap(ringCapacity: 3)
    for type in ["a", "b", "a", "a"] { tap.offer(try event(type, "s")) }  // the ring keeps 2, 3, 4
    let resumed = tap.open(TapFilter(topicType: "a"), after: 1)
    tap.offer(try event("a", "s"))
    #expect(try await taken(resumed) == ["3 a/s", "4 a/s", "5 a/s"])
    let late = tap.open(TapFilter(topicType: "a"), after: 5)
    tap.offer(try event("a", "s"))
    #expect(try await taken(late) == ["6 a/s"])
  }

  @Test("a waiting reader wakes for its own events and keepalives, not for other topics")
  func wakes() async throws {
    let tap = EventTap(ringCapacity: 0)
    let reader = tap.open(TapFilter(topicType: "a"))
    let waiting = AsyncStream.makeStream(of: [TapItem]?.self)
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask {
        while true {
          let items = await reader.next()
          waiting.continuation.yield(items)
          if items == nil { return }
        }
      }
      var next = waiting.stream.makeAsyncIterator()
      tap.offer(try event("b", "s"))
      tap.offer(try event("a", "s"))
      let first = await next.next()
      guard case .event(let tapped)? = first??.first else {
        Issue.record("expected an event, got \(String(describing: first))")
        return
      }
      #expect(tapped.sequence == 2)
      reader.keepAlive()
      let second = await next.next()
      guard case .keepAlive? = second??.first else {
        Issue.record("expected a keepalive, got \(String(describing: second))")
        return
      }
      reader.close()
      let last = await next.next()
      #expect(last.map { $0 == nil } == true, "the reader's next() ends once it is closed")
    }
  }

  @Test("cancelling a waiting reader's task ends its next()")
  func cancellation() async throws {
    let tap = EventTap(ringCapacity: 0)
    let reader = tap.open(TapFilter(topicType: "a"))
    let task = Task { await reader.next() }
    task.cancel()
    #expect(await task.value == nil)
    reader.close()
    #expect(tap.openReaders == 0)
  }

  @Test("shutdown: each reader gets what it has not taken, then the end; later readers end at once")
  func shutdown() async throws {
    let tap = EventTap(ringCapacity: 8)
    let reader = tap.open(TapFilter(topicType: "a"))
    let parked = tap.open(TapFilter(topicType: "b"))
    let parkedNext = Task { await parked.next() }
    tap.offer(try event("a", "s"))
    tap.closeAll()
    #expect(tap.openReaders == 0)
    #expect(try await taken(reader) == ["1 a/s"])
    #expect(await reader.next() == nil)
    #expect(await parkedNext.value == nil)
    tap.offer(try event("a", "s"))  // ignored
    let late = tap.open(TapFilter(topicType: "a"), after: 0)
    #expect(await late.next() == nil)
    for reader in [reader, parked, late] { reader.close() }
    #expect(tap.openReaders == 0)
  }

  @Test("a tapped event's CloudEvent is valid JSON on one line, whatever its strings and payload hold")
  func cloudEventJSON() throws {
    let awkward = "q\"b\\s/n\nr\rt\t\u{1}\u{1f}é💬"
    let payloads: [(String, Data)] = [
      (ContentType.json, Data("{\n  \"text\": \"two\\nlines\",\r\n  \"n\": [1, 2]\n}".utf8)),
      (ContentType.json, Data("not json".utf8)),
      ("application/x-protobuf", Data([0, 1, 2, 0x0A])),
    ]
    for (contentType, data) in payloads {
      let event = PublishedEvent(
        topic: try TopicId(type: "t", source: awkward), sender: try AgentId(type: "agent", key: awkward), messageId: awkward,
        payload: SerializedPayload(typeName: awkward, contentType: contentType, data: data))
      let bytes = GatewayJSON.cloudEventBytes(event, sequence: 7)
      #expect(!bytes.contains(0x0A) && !bytes.contains(0x0D))
      let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
      #expect(object["id"] as? String == awkward)
      #expect(object["source"] as? String == awkward)
      #expect(object["dataschema"] as? String == awkward)
      #expect(object[CloudEventAttribute.senderKey] as? String == awkward)
      #expect(object["sequence"] as? String == "7")
      if contentType == ContentType.json, let inline = object["data"] as? [String: Any] {
        #expect(inline["text"] as? String == "two\nlines")
      } else {
        #expect(object["data_base64"] as? String == data.base64EncodedString())
        #expect(contentType != ContentType.json || data == Data("not json".utf8))
      }
    }
  }
}

/// A count shared with a callback.
private final class Counter: Sendable {
  private let count = Mutex(0)
  func add() { count.withLock { $0 += 1 } }
  var value: Int { count.withLock { $0 } }
}
