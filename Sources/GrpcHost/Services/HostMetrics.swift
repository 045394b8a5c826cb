import Prometheus

/// The host's Prometheus metrics. Counters and the latency histogram are updated as messages are
/// routed (atomics, no locks); the gauges are read from the routing state at each scrape.
final class HostMetrics: Sendable {
  let registry: PrometheusCollectorRegistry

  let requestsRouted: Counter
  let responsesRouted: Counter
  let eventsRouted: Counter
  let eventDeliveries: Counter
  /// RPCs the host answered with an error: refused (unknown type, invalid, oversized), callee
  /// gone, host shutting down. Timeouts are counted apart.
  let rpcsFailed: Counter
  let rpcsTimedOut: Counter
  let oversizedFrames: Counter
  /// Chunks of streamed calls forwarded to their callers.
  let chunksRouted: Counter
  let rpcLatency: DurationHistogram
  /// Published copies never delivered: held for a placement the directory could not make.
  let eventsUndelivered: Counter
  /// Frames this node sent to, and received from, the other nodes of its cluster over its links.
  let clusterFramesSent: Counter
  let clusterFramesReceived: Counter
  /// Claims of instances in the cluster's directory: duration, and count by outcome.
  let claimLatency: DurationHistogram
  let claimsPlaced: Counter
  let claimsFailed: Counter
  /// The state store's calls for workers, by operation: latency, and count by outcome.
  private let stateLatency: [StateOperation: DurationHistogram]
  private let stateCalls: [StateOperation: [StateOutcome: Counter]]

  /// Requests refused by an identity's permissions, by action.
  private let permissionDenials: [Permissions.Action: Counter]

  enum StateOperation: String, CaseIterable, Sendable { case load, save }
  /// `ok`; `conflict`: a stale save refused; `refused`: over the size limit; `unavailable`: the
  /// store did not answer in time or could not be reached; `failed`: the store answered with a failure.
  enum StateOutcome: String, CaseIterable, Sendable { case ok, conflict, refused, unavailable, failed }

  private let connectedWorkers: Gauge
  private let registeredTypes: Gauge
  private let subscriptions: Gauge
  private let rpcsPending: Gauge
  private let tapReaders: Gauge
  private let linkedPeers: Gauge

  init(registry: PrometheusCollectorRegistry) {
    self.registry = registry
    func name(_ metric: String, unit: String = "", _ help: String) -> MetricNameDescriptor {
      MetricNameDescriptor(namespace: "agents", subsystem: "host", metricName: metric, unitName: unit, helpText: help)
    }
    func routed(_ kind: String) -> Counter {
      registry.makeCounter(
        descriptor: name("messages_routed", unit: "total", "Messages routed by the host, by kind: request, response, event (each publish once)."),
        labels: [("kind", kind)])
    }
    requestsRouted = routed("request")
    responsesRouted = routed("response")
    eventsRouted = routed("event")
    eventDeliveries = registry.makeCounter(
      descriptor: name("event_deliveries", unit: "total", "Copies of published events sent to workers."))
    rpcsFailed = registry.makeCounter(
      descriptor: name(
        "rpcs_failed", unit: "total",
        "RPCs the host answered with an error (refused, callee disconnected, shutdown); timeouts apart."))
    rpcsTimedOut = registry.makeCounter(
      descriptor: name("rpcs_timed_out", unit: "total", "RPCs answered with a timeout error by the host."))
    oversizedFrames = registry.makeCounter(
      descriptor: name("oversized_frames", unit: "total", "Channel frames over --max-message-size, refused."))
    chunksRouted = registry.makeCounter(
      descriptor: name("chunks_routed", unit: "total", "Chunks of streamed calls forwarded to their callers."))
    rpcLatency = registry.makeDurationHistogram(
      descriptor: name(
        "rpc_duration", unit: "seconds", "Time from forwarding an RPC request to its callee to routing the callee's response."),
      buckets: [
        .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
      ])
    eventsUndelivered = registry.makeCounter(
      descriptor: name(
        "events_undelivered", unit: "total", "Copies of published events dropped because their instance could not be placed (cluster)."))
    clusterFramesSent = registry.makeCounter(
      descriptor: name("cluster_frames", unit: "total", "Frames over this node's links to the other nodes, by direction."),
      labels: [("direction", "sent")])
    clusterFramesReceived = registry.makeCounter(
      descriptor: name("cluster_frames", unit: "total", "Frames over this node's links to the other nodes, by direction."),
      labels: [("direction", "received")])
    claimLatency = registry.makeDurationHistogram(
      descriptor: name("cluster_claim_duration", unit: "seconds", "Time the directory took to place a new agent instance (cluster)."),
      buckets: [
        .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1), .seconds(5),
      ])
    claimsPlaced = registry.makeCounter(
      descriptor: name("cluster_claims", unit: "total", "Placements asked of the directory, by outcome: placed, failed."),
      labels: [("outcome", "placed")])
    claimsFailed = registry.makeCounter(
      descriptor: name("cluster_claims", unit: "total", "Placements asked of the directory, by outcome: placed, failed."),
      labels: [("outcome", "failed")])
    var stateLatency: [StateOperation: DurationHistogram] = [:]
    var stateCalls: [StateOperation: [StateOutcome: Counter]] = [:]
    for operation in StateOperation.allCases {
      stateLatency[operation] = registry.makeDurationHistogram(
        descriptor: name("state_operation_duration", unit: "seconds", "Time the state store took to load or save an agent's state for a worker."),
        labels: [("operation", operation.rawValue)],
        buckets: [
          .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
          .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1), .seconds(5),
        ])
      for outcome in StateOutcome.allCases {
        stateCalls[operation, default: [:]][outcome] = registry.makeCounter(
          descriptor: name(
            "state_operations", unit: "total",
            "State loads and saves for workers, by outcome: ok, conflict (stale save refused), refused (too large), unavailable, failed."),
          labels: [("operation", operation.rawValue), ("outcome", outcome.rawValue)])
      }
    }
    permissionDenials = Dictionary(uniqueKeysWithValues: Permissions.Action.allCases.map { action in
      (action, registry.makeCounter(
        descriptor: name(
          "permission_denials", unit: "total",
          "Requests refused by the caller's permissions, by action: serve, publish, watch, call."),
        labels: [("action", action.rawValue)]))
    })
    self.stateLatency = stateLatency
    self.stateCalls = stateCalls
    connectedWorkers = registry.makeGauge(descriptor: name("connected_workers", "Workers with an open channel."))
    registeredTypes = registry.makeGauge(descriptor: name("registered_agent_types", "Distinct agent types served."))
    subscriptions = registry.makeGauge(descriptor: name("subscriptions", "Subscriptions held by the host."))
    rpcsPending = registry.makeGauge(descriptor: name("rpcs_pending", "RPCs forwarded and not yet answered."))
    tapReaders = registry.makeGauge(descriptor: name("gateway_tap_readers", "Open SSE and Subscribe streams on published events."))
    linkedPeers = registry.makeGauge(descriptor: name("cluster_linked_peers", "Other nodes of the cluster this node has a link to."))
  }

  /// Counts one request refused by the caller's permissions.
  func permissionDenied(_ action: Permissions.Action) {
    permissionDenials[action]?.increment()
  }

  /// Records one state store call for a worker.
  func stateCall(_ operation: StateOperation, outcome: StateOutcome, duration: Duration) {
    stateCalls[operation]?[outcome]?.increment()
    stateLatency[operation]?.record(duration)
  }

  /// The Prometheus text exposition of every metric, with the gauges read from `snapshot`.
  func render(_ snapshot: HostRouter.Snapshot) -> [UInt8] {
    connectedWorkers.set(Double(snapshot.connectedWorkers))
    registeredTypes.set(Double(snapshot.registeredTypes.count))
    subscriptions.set(Double(snapshot.subscriptions))
    rpcsPending.set(Double(snapshot.pendingRPCs))
    tapReaders.set(Double(snapshot.tapReaders))
    linkedPeers.set(Double(snapshot.linkedPeers))
    return registry.emitToBuffer()
  }
}
