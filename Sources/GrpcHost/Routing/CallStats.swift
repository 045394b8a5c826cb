/// Recent RPCs to one agent type: how many were answered, how many failed, and the latencies of
/// the latest ones, for the console's agent-type view (`GET /v1/agent-types`).
///
/// A pure value kept per type in the router's state; recording is an array write.
struct CallStats: Sendable, Equatable {
  /// How many latencies are kept (the percentiles are over these).
  static let window = 256

  /// Calls finished: answered, failed, timed out.
  private(set) var calls = 0
  /// Calls that failed: an error response, a timeout, the callee gone.
  private(set) var errors = 0
  private var latencies: [Duration] = []
  private var next = 0

  /// Records a finished call; `latency` is nil for a call that never got a response.
  mutating func record(latency: Duration?, failed: Bool) {
    calls += 1
    if failed { errors += 1 }
    guard let latency else { return }
    if latencies.count < Self.window {
      latencies.append(latency)
    } else {
      latencies[next] = latency
      next = (next + 1) % Self.window
    }
  }

  /// The `fraction` percentile (0.5, 0.99) of the kept latencies; nil before any.
  func percentile(_ fraction: Double) -> Duration? {
    guard !latencies.isEmpty else { return nil }
    let sorted = latencies.sorted()
    return sorted[min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.up)) - 1)]
  }
}

extension Duration {
  /// The duration in milliseconds, to the microsecond.
  var milliseconds: Double {
    let (seconds, attoseconds) = components
    return (Double(seconds) * 1_000_000 + Double(attoseconds / 1_000_000_000_000)) / 1000
  }
}
