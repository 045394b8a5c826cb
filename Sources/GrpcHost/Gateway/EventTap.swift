import AgentWire
import DequeModule
import Synchronization

/// Which published events a tap reader wants: an exact topic type or a type prefix, optionally one
/// source.
package struct TapFilter: Sendable, Hashable {
  package var topicType: String
  package var isPrefix: Bool
  package var source: String?

  package init(topicType: String, isPrefix: Bool = false, source: String? = nil) {
    self.topicType = topicType
    self.isPrefix = isPrefix
    self.source = source
  }

  func matches(_ event: RawCloudEvent) -> Bool {
    guard isPrefix ? event.type.hasPrefix(topicType) : event.type == topicType else { return false }
    return source.map { $0 == event.source } ?? true
  }
}

/// A published event as a tap sees it: the host's sequence number and the event's bytes.
package struct TappedEvent: Sendable {
  /// Monotonic across the host's lifetime, starting at 1.
  package var sequence: UInt64
  package var event: RawCloudEvent
}

/// The passive tap on the host's publishes behind the gateway's SSE and `Subscribe` streams.
///
/// Every routed publish gets a sequence number and goes into a bounded ring, so a reader that
/// reconnects with the last sequence it saw gets what the ring still holds. Readers never slow the
/// bus: each has a bounded buffer, and one that falls that far behind is dropped (its stream ends
/// with ``TapReader/overflowed`` set). A tap creates no agent and changes no delivery.
package final class EventTap: Sendable {
  private struct Reader {
    var filter: TapFilter
    var continuation: AsyncStream<TappedEvent>.Continuation
    var state: TapReader
  }

  private struct State {
    var ring = Deque<TappedEvent>()
    var nextSequence: UInt64 = 1
    var readers: [Int: Reader] = [:]
    var nextReader = 0
    var isClosed = false
  }

  /// How many recent events are kept for replay.
  package let ringCapacity: Int
  /// How many events a reader may fall behind before it is dropped.
  package let readerBuffer: Int
  private let state = Mutex(State())
  /// Readers open; the router skips the tap's matching work when zero and no ring is kept.
  private let readerCount = Atomic<Int>(0)
  /// Told when readers open or close (the router's watchers, for tests and metrics).
  private let observer = Mutex<(@Sendable () -> Void)?>(nil)

  package init(ringCapacity: Int = 1024, readerBuffer: Int = 4096) {
    self.ringCapacity = max(0, ringCapacity)
    self.readerBuffer = max(1, readerBuffer)
  }

  /// Calls `observer` whenever a reader opens or closes.
  package func observeReaders(_ observer: @escaping @Sendable () -> Void) {
    self.observer.withLock { $0 = observer }
  }

  private func readersChanged() {
    observer.withLock { $0 }?()
  }

  /// Records a routed publish and hands it to matching readers. Called by the router for every
  /// publish, so it does as little as it can.
  package func offer(_ event: RawCloudEvent) {
    guard ringCapacity > 0 || readerCount.load(ordering: .relaxed) > 0 else { return }
    let changed = state.withLock { state -> Bool in
      guard !state.isClosed else { return false }
      let tapped = TappedEvent(sequence: state.nextSequence, event: event)
      state.nextSequence += 1
      if ringCapacity > 0 {
        if state.ring.count == ringCapacity { state.ring.removeFirst() }
        state.ring.append(tapped)
      }
      guard !state.readers.isEmpty else { return false }
      // Yield under the lock so that every reader sees sequence order.
      var dropped: [Int] = []
      for (id, reader) in state.readers where reader.filter.matches(event) {
        if case .dropped = reader.continuation.yield(tapped) {
          reader.state.markOverflowed()
          reader.continuation.finish()
          dropped.append(id)
        }
      }
      for id in dropped { state.readers[id] = nil }
      if !dropped.isEmpty { readerCount.subtract(dropped.count, ordering: .relaxed) }
      return !dropped.isEmpty
    }
    if changed { readersChanged() }
  }

  /// Opens a reader: first the ring's events after `sequence` (when given) that match, then live
  /// ones. Iterate ``TapReader/events``; call ``TapReader/close()`` when done.
  package func open(_ filter: TapFilter, after sequence: UInt64? = nil) -> TapReader {
    let (events, continuation) = AsyncStream.makeStream(
      of: TappedEvent.self, bufferingPolicy: .bufferingOldest(readerBuffer))
    defer { readersChanged() }
    return state.withLock { state in
      let reader = TapReader(events: events, tap: self, id: state.nextReader)
      guard !state.isClosed else {
        continuation.finish()
        return reader
      }
      if let sequence {
        for tapped in state.ring where tapped.sequence > sequence && filter.matches(tapped.event) {
          continuation.yield(tapped)
        }
      }
      state.readers[state.nextReader] = Reader(filter: filter, continuation: continuation, state: reader)
      state.nextReader += 1
      readerCount.add(1, ordering: .relaxed)
      return reader
    }
  }

  fileprivate func close(reader id: Int) {
    let continuation = state.withLock { state -> AsyncStream<TappedEvent>.Continuation? in
      guard let reader = state.readers.removeValue(forKey: id) else { return nil }
      readerCount.subtract(1, ordering: .relaxed)
      return reader.continuation
    }
    continuation?.finish()
    if continuation != nil { readersChanged() }
  }

  /// Ends every reader (host shutdown); later readers end at once.
  package func closeAll() {
    let readers = state.withLock { state -> [Reader] in
      state.isClosed = true
      defer { state.readers = [:] }
      readerCount.store(0, ordering: .relaxed)
      return Array(state.readers.values)
    }
    for reader in readers { reader.continuation.finish() }
  }

  /// Readers currently open.
  package var openReaders: Int { readerCount.load(ordering: .relaxed) }

  /// The sequence number the next publish will get.
  package var nextSequence: UInt64 { state.withLock { $0.nextSequence } }
}

/// One reader of an ``EventTap``.
package final class TapReader: Sendable {
  /// The events, in sequence order. The stream ends when the reader is closed, dropped for falling
  /// behind (see ``overflowed``), or the host shuts down.
  package let events: AsyncStream<TappedEvent>
  private let tap: EventTap
  private let id: Int
  private let overflow = Atomic<Bool>(false)

  fileprivate init(events: AsyncStream<TappedEvent>, tap: EventTap, id: Int) {
    self.events = events
    self.tap = tap
    self.id = id
  }

  /// Whether the reader was dropped because it fell more than the tap's buffer behind.
  package var overflowed: Bool { overflow.load(ordering: .acquiring) }

  fileprivate func markOverflowed() { overflow.store(true, ordering: .releasing) }

  /// Stops reading. Idempotent.
  package func close() { tap.close(reader: id) }
}
