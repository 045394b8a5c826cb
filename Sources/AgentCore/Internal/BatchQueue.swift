import Synchronization

/// A multi-producer, single-consumer queue whose consumer takes everything buffered at once.
///
/// Writers of a stream use it to hand the transport batches (one write and one flush for many
/// messages) instead of one message per async hop.
package final class BatchQueue<Element: Sendable>: Sendable {
  private struct State {
    var buffer: [Element] = []
    /// The consumer, suspended until the buffer has something or the queue is finished. It is
    /// only woken here: it takes the buffer when it runs, so everything appended between the wake-up
    /// and its running goes out in the same batch.
    var waiter: CheckedContinuation<Void, Never>?
    var isFinished = false
  }

  private let state = Mutex(State())

  package init() {}

  /// Appends `element`. Returns false when the queue is finished (the element is dropped).
  @discardableResult
  package func append(_ element: Element) -> Bool {
    append(element, limit: .max) == .appended
  }

  /// What ``append(_:limit:)`` did.
  package enum BoundedAppend: Sendable {
    case appended
    /// `limit` elements already wait: the element is dropped.
    case full
    /// The queue is finished: the element is dropped.
    case finished
  }

  /// Appends `element` unless `limit` elements already wait for the consumer.
  package func append(_ element: Element, limit: Int) -> BoundedAppend {
    let (outcome, waiter): (BoundedAppend, CheckedContinuation<Void, Never>?) = state.withLock { state in
      guard !state.isFinished else { return (.finished, nil) }
      guard state.buffer.count < limit else { return (.full, nil) }
      state.buffer.append(element)
      defer { state.waiter = nil }
      return (.appended, state.waiter)
    }
    waiter?.resume()
    return outcome
  }

  /// Ends the queue: the consumer gets what is buffered, then nil.
  package func finish() {
    let waiter = state.withLock { state in
      state.isFinished = true
      defer { state.waiter = nil }
      return state.waiter
    }
    waiter?.resume()
  }

  /// Ends the queue and takes what is still buffered: the consumer gets nil next. A writer whose
  /// stream broke uses it to keep the messages it never wrote.
  package func close() -> [Element] {
    let (remaining, waiter) = state.withLock { state in
      state.isFinished = true
      defer {
        state.buffer = []
        state.waiter = nil
      }
      return (state.buffer, state.waiter)
    }
    waiter?.resume()
    return remaining
  }

  /// Everything buffered, waiting for at least one element; nil once finished and drained or when
  /// the consuming task is cancelled. One consumer at a time.
  package func next() async -> [Element]? {
    while true {
      switch takeBuffered() {
      case .batch(let batch): return batch
      case .end: return nil
      case .empty: break
      }
      await withTaskCancellationHandler {
        await withCheckedContinuation { continuation in
          let ready = state.withLock { state in
            if !state.buffer.isEmpty || state.isFinished || Task.isCancelled { return true }
            state.waiter = continuation
            return false
          }
          if ready { continuation.resume() }
        }
      } onCancel: {
        let waiter = state.withLock { state in
          defer { state.waiter = nil }
          return state.waiter
        }
        waiter?.resume()
      }
    }
  }

  private enum Taken {
    case batch([Element])
    case end
    case empty
  }

  private func takeBuffered() -> Taken {
    state.withLock { state in
      if !state.buffer.isEmpty {
        defer { state.buffer = [] }
        return .batch(state.buffer)
      }
      return state.isFinished || Task.isCancelled ? .end : .empty
    }
  }
}
