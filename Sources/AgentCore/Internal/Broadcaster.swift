import Synchronization

/// Hands each value to every current subscriber, each through its own `AsyncStream`; a subscriber
/// whose stream ends (its consumer stopped iterating or was cancelled) is dropped.
///
/// One of these replaces the watcher registries the host's router, its health service and the
/// worker's connection events would each otherwise keep by hand.
package final class Broadcaster<Element: Sendable>: Sendable {
  private struct State {
    var subscribers: [Int: AsyncStream<Element>.Continuation] = [:]
    var nextId = 0
    /// Set by `finish(with:)`: later subscribers get this and an ended stream.
    var finished: Element?? = nil
  }

  private let state = Mutex(State())
  private let bufferingPolicy: AsyncStream<Element>.Continuation.BufferingPolicy

  /// - Parameter bufferingPolicy: each subscriber's buffer; `.bufferingNewest(1)` for "something
  ///   changed" signals, where only the latest matters.
  package init(bufferingPolicy: AsyncStream<Element>.Continuation.BufferingPolicy = .unbounded) {
    self.bufferingPolicy = bufferingPolicy
  }

  /// A stream of every value yielded from now on, starting with `initial` if given. It ends when
  /// the broadcaster finishes.
  package func subscribe(startingWith initial: Element? = nil) -> AsyncStream<Element> {
    let (stream, continuation) = AsyncStream.makeStream(of: Element.self, bufferingPolicy: bufferingPolicy)
    if let initial { continuation.yield(initial) }
    let outcome: (id: Int?, last: Element??) = state.withLock { state in
      if let finished = state.finished { return (nil, finished) }
      defer { state.nextId += 1 }
      state.subscribers[state.nextId] = continuation
      return (state.nextId, nil)
    }
    guard let id = outcome.id else {
      if case .some(.some(let last)) = outcome.last { continuation.yield(last) }
      continuation.finish()
      return stream
    }
    continuation.onTermination = { [weak self] _ in
      _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
    }
    return stream
  }

  /// Gives `element` to every subscriber.
  package func yield(_ element: Element) {
    for subscriber in state.withLock({ Array($0.subscribers.values) }) { subscriber.yield(element) }
  }

  /// Gives `last` (if any) to every subscriber, ends their streams, and ends at once the streams
  /// of later subscribers (after `last`). Idempotent: only the first call counts.
  package func finish(with last: Element? = nil) {
    let subscribers: [AsyncStream<Element>.Continuation] = state.withLock { state in
      guard state.finished == nil else { return [] }
      state.finished = .some(last)
      defer { state.subscribers = [:] }
      return Array(state.subscribers.values)
    }
    for subscriber in subscribers {
      if let last { subscriber.yield(last) }
      subscriber.finish()
    }
  }

  /// How many subscribers there are now.
  package var subscriberCount: Int { state.withLock { $0.subscribers.count } }
}
