import AgentCore
@testable import GrpcHost
import Testing

@Suite("Host: placement and pending-call tables")
struct RoutingTablesTests {
  private func id(_ type: String, _ key: String) throws -> AgentId { try AgentId(type: type, key: key) }

  @Test("placement is sticky, balances by load per type, skips disconnected workers, and forgets a removed worker")
  func placement() throws {
    var table = PlacementTable()
    let registered = [
      table.register("svc", worker: "a"), table.register("svc", worker: "a"),  // idempotent
      table.register("svc", worker: "b"), table.register("other", worker: "b"),
    ]
    #expect(registered == [true, false, true, true])
    var connected: Set<String> = ["a", "b"]
    func place(_ key: String, _ type: String = "svc") throws -> String? {
      try table.place(id(type, key)) { connected.contains($0) }
    }
    #expect(try place("k1") == "a")  // first registered on a tie
    #expect(try place("k2") == "b")  // least loaded
    #expect(try place("k1") == "a")  // sticky
    #expect(try place("k3") == "a")
    #expect(try place("k4") == "b")
    #expect(try place("x", "other") == "b")  // load is per type
    #expect(try place("nobody", "ghost") == nil)
    #expect(table.types(servedBy: "b") == [AgentType("svc"), AgentType("other")])

    // A registered worker without a channel is skipped, and an owner that is not connected
    // loses its instances to a connected one.
    connected = ["b"]
    #expect(try place("k1") == "b")
    #expect(table.placements[try id("svc", "k1")] == "b")

    connected = ["a", "b"]
    #expect(table.remove(worker: "b") == [AgentType("svc"), AgentType("other")])
    #expect(table.workersByType[AgentType("other")] == nil)
    #expect(table.workersByType[AgentType("svc")] == ["a"])
    #expect(table.placements.values.allSatisfy { $0 == "a" })
    #expect(try place("k2") == "a")
    #expect(try place("x", "other") == nil)
    #expect(table.remove(worker: "b").isEmpty)
  }

  private func call(
    caller: String = "c", _ requestId: String, callee: String = "e", at start: ContinuousClock.Instant,
    deadline: Duration = .seconds(10), streaming: Bool = false
  ) throws -> PendingCalls.Call {
    PendingCalls.Call(
      caller: caller, callerRequestId: requestId, callee: callee, target: try id("svc", "k"), started: start,
      deadline: start.advanced(by: deadline), streaming: streaming)
  }

  @Test("pending calls: host ids, answers only from the callee, abandon, worker removal")
  func pendingCalls() throws {
    let now = ContinuousClock.now
    var calls = PendingCalls()
    #expect(calls.nextDeadline() == nil)  // the sweeper parks
    let (first, wake) = calls.add(try call("1", at: now))
    #expect(first == "h1" && wake)  // a parked sweeper is woken
    let (second, wakeAgain) = calls.add(try call("1", callee: "f", at: now))  // same caller id, new host id
    #expect(second == "h2" && !wakeAgain)
    #expect(calls.answer(first, by: "f") == nil)  // not that worker's call
    #expect(calls.answer(first, by: "e")?.callerRequestId == "1")
    #expect(calls.answer(first, by: "e") == nil)  // answered once
    #expect(calls.call(second, calleeIs: "f") != nil)
    #expect(calls.abandon(caller: "c", callerRequestId: "1")?.hostId == second)
    #expect(calls.count == 0)

    _ = calls.add(try call(caller: "w", "a", callee: "x", at: now))
    _ = calls.add(try call(caller: "x", "b", callee: "w", at: now))
    _ = calls.add(try call(caller: "w", "self", callee: "w", at: now))
    _ = calls.add(try call(caller: "y", "c", callee: "z", at: now))
    let (owed, abandoned) = calls.removeAll(involving: "w")
    #expect(owed.map(\.callerRequestId) == ["b"])  // only calls w was sent, from someone else
    #expect(abandoned.map(\.callerRequestId).sorted() == ["a", "self"])  // w's own calls: nobody waits
    #expect(calls.count == 1)
    #expect(calls.removeAll().map(\.callerRequestId) == ["c"])
    #expect(calls.nextDeadline() == nil)
  }

  @Test("deadlines expire in order; answered calls leave the queue without waking the sweeper")
  func deadlines() throws {
    let now = ContinuousClock.now
    var calls = PendingCalls()
    #expect(calls.nextDeadline() == nil)
    let (a, wakeA) = calls.add(try call("a", at: now, deadline: .seconds(1)))
    let (b, _) = calls.add(try call("b", at: now, deadline: .seconds(2)))
    _ = calls.add(try call("c", at: now, deadline: .seconds(3)))
    #expect(wakeA)
    #expect(calls.nextDeadline() == now.advanced(by: .seconds(1)))
    _ = calls.answer(a, by: "e")
    #expect(calls.nextDeadline() == now.advanced(by: .seconds(2)))  // a's entry is gone
    #expect(calls.expire(now: now.advanced(by: .milliseconds(2500))).map(\.callerRequestId) == ["b"])
    #expect(calls.answer(b, by: "e") == nil)  // expired calls are gone
    #expect(calls.nextDeadline() == now.advanced(by: .seconds(3)))
    #expect(calls.expire(now: now.advanced(by: .seconds(5))).map(\.callerRequestId) == ["c"])
    #expect(calls.nextDeadline() == nil)
    // After parking, the next call wakes the sweeper again; while it sleeps, no further wake-ups.
    #expect(calls.add(try call("d", at: now)).wakeSweeper)
    #expect(!calls.add(try call("e", at: now)).wakeSweeper)
  }
}
