import AgentCore
import AgentWire
import Foundation
import GRPCCore
import Logging
import Prometheus
import SwiftProtobuf
import Synchronization
import Tracing

extension HostRouter {
  // MARK: Deadlines and shutdown

  /// Answers RPCs whose deadline passed, until `shutdown()`.
  func runDeadlineSweeper() async {
    var wakeups = sweeperWakeups.makeAsyncIterator()
    while !Task.isCancelled {
      let next = state.withLock { $0.pending.nextDeadline() }
      if let next {
        do { try await Task.sleep(until: next) } catch { return }
        expireDeadlines(now: .now)
      } else if await wakeups.next() == nil {
        return
      }
    }
  }

  private func expireDeadlines(now: ContinuousClock.Instant) {
    let timeout = rpcTimeout
    let (expired, spans) = state.withLock { state -> ([(WorkerLink, ChannelFrame)], [any Span]) in
      let calls = state.pending.expire(now: now)
      let frames = calls.compactMap { rpc -> (WorkerLink, ChannelFrame)? in
        state.callStats[rpc.target.type, default: CallStats()].record(latency: nil, failed: true)
        return state.channels[rpc.caller].map {
          ($0, .errorResponse(
            requestId: rpc.callerRequestId,
            "timed out after \(timeout.secondsDescription) waiting for agent \(rpc.target) on worker '\(rpc.callee)'",
            code: .deadlineExceeded))
        }
      }
      return (frames, calls.compactMap(\.span))
    }
    for span in spans {
      Self.endRouteSpan(span, error: AgentRuntimeError(code: .deadlineExceeded, message: "timed out after \(timeout.secondsDescription)"))
    }
    if !expired.isEmpty {
      logger.info("rpcs timed out", metadata: ["count": "\(expired.count)"])
      metrics.rpcsTimedOut.increment(by: Int64(expired.count))
    }
    deliver(expired)
  }

  /// Refuses new work, answers every pending RPC with an error, and closes every stream.
  func shutdown() {
    let (failed, channels, controls, spans, held) = state.withLock {
      state -> ([(WorkerLink, ChannelFrame)], [WorkerLink], [ControlLink], [any Span], [HeldMessage]) in
      guard !state.isShuttingDown else { return ([], [], [], [], []) }
      state.isShuttingDown = true
      let held = state.awaitingPlacement.values.flatMap { $0 }
      state.awaitingPlacement = [:]
      defer { tap.closeAll() }
      let calls = state.pending.removeAll()
      let failed = calls.compactMap { rpc -> (WorkerLink, ChannelFrame)? in
        state.channels[rpc.caller].map {
          ($0, .errorResponse(requestId: rpc.callerRequestId, "the host is shutting down; agent \(rpc.target) did not respond"))
        }
      }
      return (failed, Array(state.channels.values), Array(state.controls.values), calls.compactMap(\.span), held)
    }
    fail(held, AgentRuntimeError(code: .unavailable, message: "the host is shutting down"))
    for span in spans {
      Self.endRouteSpan(span, error: AgentRuntimeError(code: .unavailable, message: "the host is shutting down"))
    }
    metrics.rpcsFailed.increment(by: Int64(failed.count))
    deliver(failed)
    for channel in channels { channel.outbound.finish() }
    for control in controls { control.outbound.finish() }
    sweeperWakeup.finish()
    claimRequest.finish()
  }

  func deliver(_ messages: [(WorkerLink, ChannelFrame)]) {
    for (link, message) in messages { link.outbound.append(message) }
  }
}
