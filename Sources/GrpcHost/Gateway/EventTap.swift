package import AgentCore
package import AgentWire
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
  /// Shared by the readers the event was handed to, so that it is rendered (as an SSE frame)
  /// once, not once per reader. Nil when no reader matched as it was published.
  package var rendering: RenderingCache?

  /// The event rendered by `make`, shared with the other readers of this event.
  package func rendered(_ make: () -> [UInt8]) -> [UInt8] {
    rendering?.get(make) ?? make()
  }
}

/// What a published event looks like to readers, made by the first reader that needs it.
package final class RenderingCache: Sendable {
  private let value = Mutex<[UInt8]?>(nil)

  /// The rendering, made by `make` if no reader made it yet.
  package func get(_ make: () -> [UInt8]) -> [UInt8] {
    value.withLock { value in
      if let value { return value }
      let made = make()
      value = made
      return made
    }
  }
}

/// What a tap reader takes: events, and the keepalive ticks its own writer asks for.
package enum TapItem: Sendable {
  case event(TappedEvent)
  case keepAlive
}

/// The passive tap on the host's publishes behind the gateway's SSE and `Subscribe` streams.
///
/// Every routed publish gets a sequence number and goes into a bounded ring, so a reader that
/// reconnects with the last sequence it saw gets what the ring still holds. Readers never slow the
/// bus: each takes its events in batches from a bounded queue, and one that falls
/// ``readerBuffer`` events behind is dropped (its queue ends with ``TapReader/overflowed`` set).
/// A tap creates no agent and changes no delivery.
package final class EventTap: Sendable {
  private struct Reader {
    var filter: TapFilter
    var reader: TapReader
  }

  private struct State {
    var ring = Deque<TappedEvent>()
    var nextSequence: UInt64 = 1
    var readers: [Int: Reader] = [:]
    /// Readers of exact topic types, by type; readers of prefixes apart. So a publish looks at
    /// the readers of its own type only, not at every reader.
    var exact: [String: Set<Int>] = [:]
    var prefixed: Set<Int> = []
    var nextReader = 0
    var isClosed = false

    mutating func add(_ reader: Reader, id: Int) {
      readers[id] = reader
      if reader.filter.isPrefix {
        prefixed.insert(id)
      } else {
        exact[reader.filter.topicType, default: []].insert(id)
      }
    }

    mutating func remove(_ id: Int) -> Reader? {
      guard let reader = readers.removeValue(forKey: id) else { return nil }
      if reader.filter.isPrefix {
        prefixed.remove(id)
      } else {
        exact[reader.filter.topicType]?.remove(id)
        if exact[reader.filter.topicType]?.isEmpty == true { exact[reader.filter.topicType] = nil }
      }
      return reader
    }

    func matching(_ event: RawCloudEvent) -> [Int] {
      var ids: [Int] = []
      for id in exact[event.type] ?? [] where readers[id]!.filter.matches(event) { ids.append(id) }
      for id in prefixed where readers[id]!.filter.matches(event) { ids.append(id) }
      return ids
    }
  }

  /// How many recent events are kept for replay.
  package let ringCapacity: Int
  /// How many events a reader may fall behind before it is dropped.
  package let readerBuffer: Int
  private let state = Mutex(State())
  /// Readers open; with no ring and no reader, a publish costs the tap one atomic load.
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
    let dropped = state.withLock { state -> [TapReader] in
      guard !state.isClosed else { return [] }
      var tapped = TappedEvent(sequence: state.nextSequence, event: event)
      state.nextSequence += 1
      let matching = state.readers.isEmpty ? [] : state.matching(event)
      if !matching.isEmpty { tapped.rendering = RenderingCache() }
      if ringCapacity > 0 {
        if state.ring.count == ringCapacity { state.ring.removeFirst() }
        state.ring.append(tapped)
      }
      // Append under the lock so that every reader sees sequence order.
      var dropped: [TapReader] = []
      for id in matching {
        let reader = state.readers[id]!.reader
        if case .full = reader.queue.append(.event(tapped), limit: readerBuffer) {
          _ = state.remove(id)
          dropped.append(reader)
        }
      }
      return dropped
    }
    guard !dropped.isEmpty else { return }
    readerCount.subtract(dropped.count, ordering: .relaxed)
    for reader in dropped { reader.drop() }
    readersChanged()
  }

  /// Opens a reader: first the ring's events after `sequence` (when given) that match, then live
  /// ones. Take them with ``TapReader/next()``; call ``TapReader/close()`` when done.
  package func open(_ filter: TapFilter, after sequence: UInt64? = nil) -> TapReader {
    defer { readersChanged() }
    return state.withLock { state in
      let reader = TapReader(tap: self, id: state.nextReader)
      state.nextReader += 1
      guard !state.isClosed else {
        reader.queue.finish()
        return reader
      }
      if let sequence {
        for tapped in state.ring where tapped.sequence > sequence && filter.matches(tapped.event) {
          reader.queue.append(.event(tapped))
        }
      }
      state.add(Reader(filter: filter, reader: reader), id: reader.id)
      readerCount.add(1, ordering: .relaxed)
      return reader
    }
  }

  fileprivate func close(reader id: Int) {
    let reader = state.withLock { $0.remove(id) }
    guard let reader else { return }
    readerCount.subtract(1, ordering: .relaxed)
    reader.reader.queue.finish()
    readersChanged()
  }

  /// Ends every reader (host shutdown); later readers end at once.
  package func closeAll() {
    let readers = state.withLock { state -> [Reader] in
      state.isClosed = true
      defer {
        state.readers = [:]
        state.exact = [:]
        state.prefixed = []
      }
      readerCount.store(0, ordering: .relaxed)
      return Array(state.readers.values)
    }
    for reader in readers { reader.reader.queue.finish() }
  }

  /// Readers currently open.
  package var openReaders: Int { readerCount.load(ordering: .relaxed) }

}

/// One reader of an ``EventTap``.
package final class TapReader: Sendable {
  fileprivate let queue = BatchQueue<TapItem>()
  private let tap: EventTap
  fileprivate let id: Int
  private let overflow = Atomic<Bool>(false)
  private let ending = Mutex<AgentRuntimeError?>(nil)

  fileprivate init(tap: EventTap, id: Int) {
    self.tap = tap
    self.id = id
  }

  /// What has arrived since the last call, in sequence order, waiting for at least one item; nil
  /// once the reader is closed, dropped for falling behind (see ``overflowed``), or the host shuts
  /// down. One consumer at a time.
  package func next() async -> [TapItem]? {
    await queue.next()
  }

  /// Adds a ``TapItem/keepAlive`` for the consumer (an SSE writer's idle tick).
  package func keepAlive() {
    queue.append(.keepAlive)
  }

  /// Whether the reader was dropped because it fell more than the tap's buffer behind.
  package var overflowed: Bool { overflow.load(ordering: .acquiring) }

  fileprivate func drop() {
    overflow.store(true, ordering: .releasing)
    queue.finish()
  }

  /// Stops reading. Idempotent.
  package func close() { tap.close(reader: id) }

  /// Stops reading for `reason` (its credentials were revoked or expired), which ``endReason`` then gives.
  package func end(_ reason: AgentRuntimeError) {
    ending.withLock { $0 = $0 ?? reason }
    close()
  }

  /// Why the reader ended, when ``end(_:)`` ended it.
  package var endReason: AgentRuntimeError? { ending.withLock { $0 } }
}
