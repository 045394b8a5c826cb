import AgentCore
import DequeModule
import Tracing

/// RPCs the host has forwarded and not yet seen answered, with their deadlines.
///
/// A pure value keyed by the host's own request ids (`h1`, `h2`, …), which keep callers' ids
/// apart. Every call has the same timeout, so the deadline queue is in insertion order. Answered
/// calls are dropped from its front as they are answered (in-order answers keep it short) and
/// otherwise skipped when the sweeper reaches them.
struct PendingCalls {
  struct Call {
    var caller: String
    var callerRequestId: String
    var callee: String
    var target: AgentId
    var started: ContinuousClock.Instant
    var deadline: ContinuousClock.Instant
    /// The caller asked for chunks: the callee's chunk events go to it.
    var streaming: Bool
    /// The host's span of this call, when it traces (see `HostRouter+Tracing`).
    var span: (any Span)? = nil
  }

  private var calls: [String: Call] = [:]
  private var deadlines: Deque<(id: String, deadline: ContinuousClock.Instant)> = []
  private var nextId: UInt64 = 1
  /// The sweeper found nothing to wait for and waits to be woken.
  private var sweeperIsParked = false

  var count: Int { calls.count }

  /// Records `call` and returns its host request id, and whether the deadline sweeper must be
  /// woken (it last found nothing to wait for).
  mutating func add(_ call: Call) -> (hostId: String, wakeSweeper: Bool) {
    let hostId = "h\(nextId)"
    nextId += 1
    calls[hostId] = call
    deadlines.append((hostId, call.deadline))
    defer { sweeperIsParked = false }
    return (hostId, sweeperIsParked)
  }

  /// The pending call `hostId`, if `callee` is the worker it was sent to.
  func call(_ hostId: String, calleeIs callee: String) -> Call? {
    calls[hostId].flatMap { $0.callee == callee ? $0 : nil }
  }

  /// Removes and returns the call `hostId` answered by `callee`; nil for an unknown id or another
  /// worker's call.
  mutating func answer(_ hostId: String, by callee: String) -> Call? {
    guard call(hostId, calleeIs: callee) != nil else { return nil }
    defer { dropAnsweredFront() }
    return calls.removeValue(forKey: hostId)
  }

  /// Removes the call `caller` made as `callerRequestId`: the caller stopped waiting.
  mutating func abandon(caller: String, callerRequestId: String) -> (hostId: String, call: Call)? {
    guard let (hostId, call) = calls.first(where: { $0.value.caller == caller && $0.value.callerRequestId == callerRequestId })
    else { return nil }
    calls[hostId] = nil
    dropAnsweredFront()
    return (hostId, call)
  }

  /// Removes every call `worker` made or was sent: those it was sent, whose callers are owed an
  /// answer, and the rest, which nobody waits for any more.
  mutating func removeAll(involving worker: String) -> (owed: [Call], abandoned: [Call]) {
    var owed: [Call] = []
    var abandoned: [Call] = []
    for (id, call) in calls where call.callee == worker || call.caller == worker {
      calls[id] = nil
      if call.callee == worker && call.caller != worker { owed.append(call) } else { abandoned.append(call) }
    }
    return (owed, abandoned)
  }

  /// Removes and returns every call.
  mutating func removeAll() -> [Call] {
    defer {
      calls = [:]
      deadlines = []
    }
    return Array(calls.values)
  }

  /// For the sweeper: the earliest deadline of a call still pending, or nil (the sweeper then
  /// parks until ``add(_:)`` says to wake it).
  mutating func nextDeadline() -> ContinuousClock.Instant? {
    dropAnsweredFront()
    sweeperIsParked = deadlines.isEmpty
    return deadlines.first?.deadline
  }

  private mutating func dropAnsweredFront() {
    while let first = deadlines.first, calls[first.id] == nil { deadlines.removeFirst() }
  }

  /// Removes and returns the calls whose deadline is at or before `now`.
  mutating func expire(now: ContinuousClock.Instant) -> [Call] {
    var expired: [Call] = []
    while let first = deadlines.first, first.deadline <= now {
      deadlines.removeFirst()
      if let call = calls.removeValue(forKey: first.id) { expired.append(call) }
    }
    return expired
  }
}
