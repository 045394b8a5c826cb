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
///
/// A class: a reader takes an event by one reference, however many fields the event has, and the
/// readers of an event share its rendering.
package final class TappedEvent: Sendable {
  /// Monotonic across the host's lifetime, starting at 1.
  package let sequence: UInt64
  package let event: RawCloudEvent
  /// Made by the first reader that needs it (an SSE frame), then shared by the others.
  private let rendering = AtomicLazyReference<Rendering>()

  package init(sequence: UInt64, event: RawCloudEvent) {
    self.sequence = sequence
    self.event = event
  }

  /// The event rendered by `make`, shared with the other readers of this event. Without a lock:
  /// two readers that find it unmade at once both make it, and one rendering is kept.
  package func rendered(_ make: () -> [UInt8]) -> [UInt8] {
    if let made = rendering.load() { return made.bytes }
    return rendering.storeIfNil(Rendering(bytes: make())).bytes
  }

  private final class Rendering: Sendable {
    let bytes: [UInt8]
    init(bytes: [UInt8]) { self.bytes = bytes }
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
/// reconnects with the last sequence it saw gets what the ring still holds.
///
/// Readers never slow the bus. Readers with the same filter share one bounded feed: a publish is
/// appended once per matching filter, not once per reader, and each reader is a position in its
/// feed that takes everything after it in one batch. A reader that falls more than
/// ``readerBuffer`` events behind is dropped as the feed moves past it (its ``TapReader/next()``
/// then ends with ``TapReader/overflowed`` set). A tap creates no agent and changes no delivery.
package final class EventTap: Sendable {
  private let state = Mutex(TapState())
  /// How many recent events are kept for replay.
  package let ringCapacity: Int
  /// How many events a reader may fall behind before it is dropped.
  package let readerBuffer: Int
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

  /// Records a routed publish and hands it to the feeds whose filter it matches. Called by the
  /// router for every publish, so it does as little as it can: its cost does not grow with the
  /// number of readers.
  package func offer(_ event: RawCloudEvent) {
    guard ringCapacity > 0 || readerCount.load(ordering: .relaxed) > 0 else { return }
    let (woken, dropped) = state.withLock { state in
      state.offer(event, ringCapacity: ringCapacity, readerBuffer: readerBuffer)
    }
    for waiter in woken { waiter.resume() }
    guard !dropped.isEmpty else { return }
    readerCount.subtract(dropped.count, ordering: .relaxed)
    for reader in dropped {
      reader.handle.markOverflowed()
      reader.waiter?.resume()
    }
    readersChanged()
  }

  /// Opens a reader: first the ring's events after `sequence` (when given) that match, then live
  /// ones. Take them with ``TapReader/next()``; call ``TapReader/close()`` when done.
  package func open(_ filter: TapFilter, after sequence: UInt64? = nil) -> TapReader {
    defer { readersChanged() }
    return state.withLock { state in
      let reader = TapReader(tap: self, id: state.nextReader)
      state.open(reader, filter, after: sequence)
      if !state.isClosed { readerCount.add(1, ordering: .relaxed) }
      return reader
    }
  }

  /// Ends every reader (host shutdown): each gets what it has not taken yet, then the end. Later
  /// readers end at once.
  package func closeAll() {
    let waiters = state.withLock { state in
      readerCount.store(0, ordering: .relaxed)
      return state.closeAll()
    }
    for waiter in waiters { waiter.resume() }
  }

  /// Readers currently open.
  package var openReaders: Int { readerCount.load(ordering: .relaxed) }

  /// Events the feeds hold for their readers (not counting the replay ring).
  var heldEvents: Int { state.withLock { $0.feeds.values.reduce(0) { $0 + $1.log.count } } }

  // MARK: For TapReader

  func take(_ id: Int) -> TapState.Taken {
    state.withLock { $0.take(id, isCancelled: Task.isCancelled) }
  }

  /// Parks `waiter` until reader `id` has something; false (nothing parked) when it already has.
  func park(_ id: Int, _ waiter: CheckedContinuation<Void, Never>) -> Bool {
    state.withLock { $0.park(id, waiter, isCancelled: Task.isCancelled) }
  }

  func unpark(_ id: Int) -> CheckedContinuation<Void, Never>? {
    state.withLock { $0.unpark(id) }
  }

  func keepAlive(_ id: Int) {
    state.withLock { $0.keepAlive(id) }?.resume()
  }

  func close(_ id: Int) {
    let closed = state.withLock { $0.close(id) }
    guard let closed else { return }
    if !closed.afterShutdown { readerCount.subtract(1, ordering: .relaxed) }
    closed.waiter?.resume()
    readersChanged()
  }
}

/// One reader of an ``EventTap``: a position in the feed of its filter.
package final class TapReader: Sendable {
  private let tap: EventTap
  let id: Int
  private let overflow = Atomic<Bool>(false)
  private let ending = Mutex<AgentRuntimeError?>(nil)

  init(tap: EventTap, id: Int) {
    self.tap = tap
    self.id = id
  }

  /// What has arrived since the last call, in sequence order, waiting for at least one item; nil
  /// once the reader is closed, dropped for falling behind (see ``overflowed``), the host shuts
  /// down, or the consuming task is cancelled. One consumer at a time.
  package func next() async -> [TapItem]? {
    while true {
      switch tap.take(id) {
      case .batch(let items): return items
      case .end: return nil
      case .empty: break
      }
      await withTaskCancellationHandler {
        await withCheckedContinuation { continuation in
          if !tap.park(id, continuation) { continuation.resume() }
        }
      } onCancel: {
        tap.unpark(id)?.resume()
      }
    }
  }

  /// Adds a ``TapItem/keepAlive`` for the consumer (an SSE writer's idle tick).
  package func keepAlive() {
    tap.keepAlive(id)
  }

  /// Whether the reader was dropped because it fell more than the tap's buffer behind.
  package var overflowed: Bool { overflow.load(ordering: .acquiring) }

  func markOverflowed() { overflow.store(true, ordering: .releasing) }

  /// Stops reading. Idempotent.
  package func close() { tap.close(id) }

  /// Stops reading for `reason` (its credentials were revoked or expired), which ``endReason`` then gives.
  package func end(_ reason: AgentRuntimeError) {
    ending.withLock { $0 = $0 ?? reason }
    close()
  }

  /// Why the reader ended, when ``end(_:)`` ended it.
  package var endReason: AgentRuntimeError? { ending.withLock { $0 } }
}
