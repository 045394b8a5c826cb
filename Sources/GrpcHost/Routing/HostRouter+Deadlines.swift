import AgentCore
import AgentWire
import Foundation
import GRPCCore
import Logging
import Prometheus
import SwiftProtobuf
import Synchronization

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
    let expired = state.withLock { state -> [(WorkerLink, ChannelFrame)] in
      state.pending.expire(now: now).compactMap { rpc in
        state.callStats[rpc.target.type, default: CallStats()].record(latency: nil, failed: true)
        return state.channels[rpc.caller].map {
          ($0, .errorResponse(
            requestId: rpc.callerRequestId,
            "timed out after \(timeout.secondsDescription) waiting for agent \(rpc.target) on worker '\(rpc.callee)'",
            code: .deadlineExceeded))
        }
      }
    }
    if !expired.isEmpty {
      logger.info("rpcs timed out", metadata: ["count": "\(expired.count)"])
      metrics.rpcsTimedOut.increment(by: Int64(expired.count))
    }
    deliver(expired)
  }

  /// Refuses new work, answers every pending RPC with an error, and closes every stream.
  func shutdown() {
    let (failed, channels, controls) = state.withLock { state -> ([(WorkerLink, ChannelFrame)], [WorkerLink], [ControlLink]) in
      guard !state.isShuttingDown else { return ([], [], []) }
      state.isShuttingDown = true
      defer { tap.closeAll() }
      let failed = state.pending.removeAll().compactMap { rpc -> (WorkerLink, ChannelFrame)? in
        state.channels[rpc.caller].map {
          ($0, .errorResponse(requestId: rpc.callerRequestId, "the host is shutting down; agent \(rpc.target) did not respond"))
        }
      }
      return (failed, Array(state.channels.values), Array(state.controls.values))
    }
    metrics.rpcsFailed.increment(by: Int64(failed.count))
    deliver(failed)
    for channel in channels { channel.outbound.finish() }
    for control in controls { control.outbound.finish() }
    sweeperWakeup.finish()
  }

  func deliver(_ messages: [(WorkerLink, ChannelFrame)]) {
    for (link, message) in messages { link.outbound.append(message) }
  }
}
