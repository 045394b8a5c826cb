/// How a runtime uses its ``AgentStateStore``: the store, the largest state it saves, and how long
/// one load or save may take.
package struct StateSettings: Sendable {
  package var store: any AgentStateStore
  /// The largest encoded state saved, in bytes; a larger one is refused before the store sees it.
  package var maxStateSize: Int
  /// How long one load or save may take before the handler fails with ``AgentRuntimeError/Code/unavailable``.
  package var timeout: Duration

  package init(store: any AgentStateStore, maxStateSize: Int, timeout: Duration) {
    self.store = store
    self.maxStateSize = maxStateSize
    self.timeout = timeout
  }

  /// Refuses a state over ``maxStateSize``.
  package func checkSize(_ size: Int, of id: AgentId) throws(AgentRuntimeError) {
    guard size <= maxStateSize else {
      throw AgentRuntimeError(
        code: .resourceExhausted,
        message: "the state of \(id) is \(size) bytes, over the limit of \(maxStateSize) bytes (maxStateSize); it was not saved")
    }
  }

  /// Runs one store operation within ``timeout``. A runtime error from the store passes as it is;
  /// a store that takes too long is ``AgentRuntimeError/Code/unavailable`` (it may be down), and
  /// any other failure is ``AgentRuntimeError/Code/stateStoreFailed``.
  package func call<T: Sendable>(
    _ what: String, of id: AgentId, _ operation: @escaping @Sendable () async throws -> T
  ) async throws(AgentRuntimeError) -> T {
    let timeout = self.timeout
    do {
      return try await withDeadline(
        timeout,
        timeoutError: {
          AgentRuntimeError(
            code: .unavailable, message: "could not \(what) the state of \(id): the state store did not answer within \(timeout.secondsDescription)")
        },
        cancelledError: { AgentRuntimeError(code: .cancelled, message: "the \(what) of the state of \(id) was cancelled") },
        operation)
    } catch let error as AgentRuntimeError {
      throw error
    } catch {
      throw AgentRuntimeError(code: .stateStoreFailed, message: "could not \(what) the state of \(id): \(error)", cause: error)
    }
  }
}
