import Synchronization

/// A value delivered once, awaited by any number of tasks. The first `resolve` wins.
package final class OneShot<Value: Sendable>: Sendable {
  private enum State {
    case pending([Int: CheckedContinuation<Value, any Error>], nextWaiter: Int)
    case resolved(Result<Value, any Error>)
  }

  private let state = Mutex<State>(.pending([:], nextWaiter: 0))
  private let callbacks = Mutex<[@Sendable (Result<Value, any Error>) -> Void]?>([])

  package init() {}

  /// Delivers the result. Returns false when a result was already delivered.
  @discardableResult
  package func resolve(_ result: Result<Value, any Error>) -> Bool {
    let waiters: [CheckedContinuation<Value, any Error>]? = state.withLock { state in
      guard case .pending(let waiters, _) = state else { return nil }
      state = .resolved(result)
      return Array(waiters.values)
    }
    guard let waiters else { return false }
    for waiter in waiters { waiter.resume(with: result) }
    let toCall = callbacks.withLock { callbacks in
      defer { callbacks = nil }
      return callbacks ?? []
    }
    for callback in toCall { callback(result) }
    return true
  }

  /// Calls `callback` with the result once it is delivered (at once if it already was), on the
  /// task that resolves it. Keep it short and non-blocking.
  package func onResolve(_ callback: @escaping @Sendable (Result<Value, any Error>) -> Void) {
    let registered = callbacks.withLock { callbacks -> Bool in
      guard callbacks != nil else { return false }
      callbacks!.append(callback)
      return true
    }
    if !registered, let result = resolvedResult { callback(result) }
  }

  /// Waits for the result. Throws `CancellationError` when the waiting task is cancelled.
  package func value() async throws -> Value {
    let id: Int? = state.withLock { state in
      guard case .pending(let waiters, let next) = state else { return nil }
      state = .pending(waiters, nextWaiter: next + 1)
      return next
    }
    guard let id else {
      return try resolvedResult!.get()
    }
    return try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { continuation in
        let early: Result<Value, any Error>? = state.withLock { state in
          switch state {
          case .resolved(let result):
            return result
          case .pending(var waiters, let next):
            if Task.isCancelled { return .failure(CancellationError()) }
            waiters[id] = continuation
            state = .pending(waiters, nextWaiter: next)
            return nil
          }
        }
        if let early { continuation.resume(with: early) }
      }
    } onCancel: {
      let waiter: CheckedContinuation<Value, any Error>? = state.withLock { state in
        guard case .pending(var waiters, let next) = state else { return nil }
        let waiter = waiters.removeValue(forKey: id)
        state = .pending(waiters, nextWaiter: next)
        return waiter
      }
      waiter?.resume(throwing: CancellationError())
    }
  }

  private var resolvedResult: Result<Value, any Error>? {
    state.withLock { if case .resolved(let result) = $0 { return result } else { return nil } }
  }
}

/// Runs `operation`, throwing `timeoutError()` if it has not finished after `timeout`, and
/// ``AgentRuntimeError/Code/cancelled`` when the calling task is cancelled.
package func withDeadline<T: Sendable>(
  _ timeout: Duration,
  timeoutError: @escaping @Sendable () -> AgentRuntimeError,
  cancelledError: @escaping @Sendable () -> AgentRuntimeError,
  _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
  do {
    return try await withThrowingTaskGroup(of: T.self) { group in
      group.addTask { try await operation() }
      group.addTask {
        try await Task.sleep(for: timeout)
        throw timeoutError()
      }
      defer { group.cancelAll() }
      return try await group.next()!
    }
  } catch is CancellationError {
    throw cancelledError()
  }
}

extension OneShot where Value == (any Sendable)? {
  /// Waits for an RPC's response for at most `timeout`. When the wait ends without one (deadline
  /// or cancellation), resolves this reply with that error first, so a handler still working on it
  /// is cancelled and a late response is dropped.
  /// `callerTimeout` is the timeout the error names (the caller's own, when `timeout` is what is
  /// left of it); it defaults to `timeout`.
  package func await(timeout: Duration, from recipient: AgentId, callerTimeout: Duration? = nil) async throws -> (any Sendable)? {
    let named = callerTimeout ?? timeout
    do {
      return try await withDeadline(
        timeout,
        timeoutError: {
          AgentRuntimeError(
            code: .deadlineExceeded,
            message: "no response from \(recipient) within \(named.secondsDescription)"
          )
        },
        cancelledError: {
          AgentRuntimeError(code: .cancelled, message: "the send to \(recipient) was cancelled")
        },
        { try await self.value() }
      )
    } catch {
      resolve(.failure(error))
      throw error
    }
  }
}
