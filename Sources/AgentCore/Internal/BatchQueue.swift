import Synchronization

/// A multi-producer, single-consumer queue whose consumer takes everything buffered at once.
///
/// Writers of a stream use it to hand the transport batches (one write and one flush for many
/// messages) instead of one message per async hop.
package final class BatchQueue<Element: Sendable>: Sendable {
  private struct State {
    var buffer: [Element] = []
    var waiter: CheckedContinuation<[Element]?, Never>?
    var isFinished = false
  }

  private enum AppendOutcome {
    case dropped
    case buffered
    case handOver(CheckedContinuation<[Element]?, Never>)
  }

  private let state = Mutex(State())

  package init() {}

  /// Appends `element`. Returns false when the queue is finished (the element is dropped).
  @discardableResult
  package func append(_ element: Element) -> Bool {
    let outcome: AppendOutcome = state.withLock { state in
      guard !state.isFinished else { return .dropped }
      if let waiter = state.waiter {
        state.waiter = nil
        return .handOver(waiter)
      }
      state.buffer.append(element)
      return .buffered
    }
    switch outcome {
    case .dropped: return false
    case .buffered: return true
    case .handOver(let waiter):
      waiter.resume(returning: [element])
      return true
    }
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
    let outcome: (BoundedAppend, CheckedContinuation<[Element]?, Never>?) = state.withLock { state in
      guard !state.isFinished else { return (.finished, nil) }
      if let waiter = state.waiter {
        state.waiter = nil
        return (.appended, waiter)
      }
      guard state.buffer.count < limit else { return (.full, nil) }
      state.buffer.append(element)
      return (.appended, nil)
    }
    outcome.1?.resume(returning: [element])
    return outcome.0
  }

  /// Ends the queue: the consumer gets what is buffered, then nil.
  package func finish() {
    let waiter = state.withLock { state in
      state.isFinished = true
      defer { state.waiter = nil }
      return state.waiter
    }
    waiter?.resume(returning: nil)
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
    waiter?.resume(returning: nil)
    return remaining
  }

  /// Everything buffered, waiting for at least one element; nil once finished and drained or when
  /// the consuming task is cancelled. One consumer at a time.
  package func next() async -> [Element]? {
    await withTaskCancellationHandler {
      await withCheckedContinuation { continuation in
        let ready: [Element]?? = state.withLock { state in
          if !state.buffer.isEmpty {
            defer { state.buffer = [] }
            return .some(state.buffer)
          }
          if state.isFinished || Task.isCancelled { return .some(nil) }
          state.waiter = continuation
          return nil
        }
        if let ready { continuation.resume(returning: ready) }
      }
    } onCancel: {
      let waiter = state.withLock { state in
        defer { state.waiter = nil }
        return state.waiter
      }
      waiter?.resume(returning: nil)
    }
  }
}
