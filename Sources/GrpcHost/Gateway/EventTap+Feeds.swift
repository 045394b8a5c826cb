import AgentWire
import DequeModule

/// The ``EventTap``'s state, behind its lock: the replay ring, one feed per distinct filter, and
/// each reader's position in its feed.
struct TapState {
  /// The events of one filter that its readers have not all taken (up to a compaction), at most
  /// the tap's reader buffer of them.
  struct Feed {
    var log = Deque<TappedEvent>()
    /// Events removed from the front of `log`, ever: a reader's position minus this is its index
    /// in `log`, and a reader whose position is below it fell behind.
    var trimmed = 0
    var readers: Set<Int> = []
    /// Readers waiting for the next event.
    var parked: Set<Int> = []
    /// No reader's position is below this: a lower bound, made exact when the feed is compacted.
    var slowest = 0

    var end: Int { trimmed + log.count }
  }

  struct Reader {
    var filter: TapFilter
    /// Replayed events (from the ring) the reader gets before its feed's.
    var backlog: [TappedEvent]
    /// The next event of the feed the reader takes.
    var position: Int
    var keepAlive = false
    var waiter: CheckedContinuation<Void, Never>?
    let handle: TapReader
  }

  /// A reader the tap dropped for falling behind, to be told so.
  struct Dropped {
    var handle: TapReader
    var waiter: CheckedContinuation<Void, Never>?
  }

  enum Taken {
    case batch([TapItem])
    case end
    case empty
  }

  var ring = Deque<TappedEvent>()
  var nextSequence: UInt64 = 1
  var feeds: [TapFilter: Feed] = [:]
  /// The filters of exact topic types, by type; prefix filters apart. So a publish looks at its
  /// own type's feeds and the prefix feeds only.
  var exact: [String: Set<TapFilter>] = [:]
  var prefixes: Set<TapFilter> = []
  var readers: [Int: Reader] = [:]
  var nextReader = 0
  var isClosed = false

  // MARK: Publishing

  /// Records `event`: in the ring, and in each matching feed. Returns the waiters to wake and the
  /// readers dropped because the feed moved past them.
  mutating func offer(
    _ event: RawCloudEvent, ringCapacity: Int, readerBuffer: Int
  ) -> (woken: [CheckedContinuation<Void, Never>], dropped: [Dropped]) {
    guard !isClosed else { return ([], []) }
    let tapped = TappedEvent(sequence: nextSequence, event: event)
    nextSequence += 1
    var woken: [CheckedContinuation<Void, Never>] = []
    var dropped: [Dropped] = []
    if !feeds.isEmpty {
      var matching: [TapFilter] = []
      if let filters = exact[event.type] {
        for filter in filters where filter.source == nil || filter.source == event.source { matching.append(filter) }
      }
      for filter in prefixes where filter.matches(event) { matching.append(filter) }
      for filter in matching {
        append(tapped, to: filter, readerBuffer: readerBuffer, woken: &woken, dropped: &dropped)
      }
    }
    if ringCapacity > 0 {
      if ring.count == ringCapacity { ring.removeFirst() }
      ring.append(tapped)
    }
    return (woken, dropped)
  }

  private mutating func append(
    _ tapped: TappedEvent, to filter: TapFilter, readerBuffer: Int,
    woken: inout [CheckedContinuation<Void, Never>], dropped: inout [Dropped]
  ) {
    guard var feed = feeds.removeValue(forKey: filter) else { return }
    feed.log.append(tapped)
    compact(&feed, readerBuffer: readerBuffer, dropped: &dropped)
    for id in feed.parked {
      if let waiter = readers[id]?.waiter {
        woken.append(waiter)
        readers[id]?.waiter = nil
      }
    }
    feed.parked.removeAll(keepingCapacity: true)
    if feed.readers.isEmpty {
      forget(filter)
    } else {
      feeds[filter] = feed
    }
  }

  /// How often (in events) a feed trims what all its readers have taken, when no reader fell
  /// behind meanwhile.
  static let compactionPeriod = 256

  /// Drops the feed's readers more than `readerBuffer` events behind, then removes the events
  /// every remaining reader has taken: a feed holds what its slowest reader still needs, never
  /// more than `readerBuffer` events. The readers are looked at only when one may have fallen
  /// behind, or every ``compactionPeriod`` events.
  private mutating func compact(_ feed: inout Feed, readerBuffer: Int, dropped: inout [Dropped]) {
    let behind = feed.end - readerBuffer  // a reader below this position is too far behind
    guard behind > feed.slowest || feed.end % Self.compactionPeriod == 0 else { return }
    var slowest = feed.end
    for id in feed.readers {
      guard let position = readers[id]?.position else { continue }
      if position < behind {
        feed.readers.remove(id)
        feed.parked.remove(id)
        if let reader = readers.removeValue(forKey: id) {
          dropped.append(Dropped(handle: reader.handle, waiter: reader.waiter))
        }
      } else {
        slowest = min(slowest, position)
      }
    }
    feed.slowest = slowest
    feed.log.removeFirst(slowest - feed.trimmed)
    feed.trimmed = slowest
  }

  // MARK: Readers

  /// Adds `handle` as a reader of `filter`: the ring's matching events after `sequence` first,
  /// then its feed's from now on.
  mutating func open(_ handle: TapReader, _ filter: TapFilter, after sequence: UInt64?) {
    nextReader += 1
    guard !isClosed else { return }  // it takes nothing: the end at once
    var backlog: [TappedEvent] = []
    if let sequence {
      for tapped in ring where tapped.sequence > sequence && filter.matches(tapped.event) { backlog.append(tapped) }
    }
    if feeds[filter] == nil {
      feeds[filter] = Feed()
      if filter.isPrefix {
        prefixes.insert(filter)
      } else {
        exact[filter.topicType, default: []].insert(filter)
      }
    }
    let position = feeds[filter]!.end
    feeds[filter]!.readers.insert(handle.id)
    readers[handle.id] = Reader(filter: filter, backlog: backlog, position: position, handle: handle)
  }

  /// Everything reader `id` has not taken yet; `.empty` when it must wait.
  mutating func take(_ id: Int, isCancelled: Bool) -> Taken {
    guard var reader = readers[id] else { return .end }
    var items = reader.backlog.map(TapItem.event)
    reader.backlog = []
    if let feed = feeds[reader.filter], reader.position < feed.end {
      items.reserveCapacity(items.count + feed.end - reader.position)
      for tapped in feed.log[(reader.position - feed.trimmed)...] { items.append(.event(tapped)) }
      reader.position = feed.end
    }
    if reader.keepAlive {
      items.append(.keepAlive)
      reader.keepAlive = false
    }
    readers[id] = reader
    if !items.isEmpty { return .batch(items) }
    return isClosed || isCancelled ? .end : .empty
  }

  /// Parks `waiter` for reader `id`; false when the reader has something already (or is gone).
  mutating func park(_ id: Int, _ waiter: CheckedContinuation<Void, Never>, isCancelled: Bool) -> Bool {
    guard !isClosed, !isCancelled, let reader = readers[id], let feed = feeds[reader.filter],
      reader.backlog.isEmpty, !reader.keepAlive, reader.position == feed.end
    else { return false }
    readers[id]!.waiter = waiter
    feeds[reader.filter]!.parked.insert(id)
    return true
  }

  mutating func unpark(_ id: Int) -> CheckedContinuation<Void, Never>? {
    guard let reader = readers[id], let waiter = reader.waiter else { return nil }
    readers[id]!.waiter = nil
    feeds[reader.filter]?.parked.remove(id)
    return waiter
  }

  /// Asks for a keepalive item; returns the waiter to wake.
  mutating func keepAlive(_ id: Int) -> CheckedContinuation<Void, Never>? {
    guard readers[id] != nil else { return nil }
    readers[id]!.keepAlive = true
    return unpark(id)
  }

  /// Removes reader `id`; nil when it was already gone (closed, or dropped).
  mutating func close(_ id: Int) -> (waiter: CheckedContinuation<Void, Never>?, afterShutdown: Bool)? {
    guard let reader = readers.removeValue(forKey: id) else { return nil }
    if var feed = feeds.removeValue(forKey: reader.filter) {
      feed.readers.remove(id)
      feed.parked.remove(id)
      if feed.readers.isEmpty {
        forget(reader.filter)
      } else {
        feeds[reader.filter] = feed
      }
    }
    return (reader.waiter, isClosed)
  }

  /// Host shutdown: no more events. Readers take what they have not yet, then the end.
  mutating func closeAll() -> [CheckedContinuation<Void, Never>] {
    isClosed = true
    var waiters: [CheckedContinuation<Void, Never>] = []
    for id in readers.keys {
      if let waiter = readers[id]?.waiter { waiters.append(waiter) }
      readers[id]?.waiter = nil
    }
    return waiters
  }

  /// Removes `filter` from the indexes (its feed is gone).
  private mutating func forget(_ filter: TapFilter) {
    if filter.isPrefix {
      prefixes.remove(filter)
    } else {
      exact[filter.topicType]?.remove(filter)
      if exact[filter.topicType]?.isEmpty == true { exact[filter.topicType] = nil }
    }
  }
}
