import AgentCore
import AgentWire
import Foundation
import GRPCCore
import Logging
import Prometheus
import SwiftProtobuf
import Synchronization
import Tracing

/// One open `OpenChannel` stream: where the host writes messages for that worker.
final class WorkerLink: Sendable {
  let clientId: String
  /// Who opened the channel: what it may call, publish and receive is checked against it (never
  /// against what its frames claim).
  let identity: Identity
  /// Frames for the worker; the stream's writer sends whatever has queued up in one batch.
  let outbound: BatchQueue<ChannelFrame>
  /// The peer's address, as the transport describes it (`ipv4:127.0.0.1:51234`).
  let address: String
  let connectedAt = Date()
  /// Set when the other end is a node of the cluster (its channel to this node, or this node's
  /// link to it), not a worker.
  let peerNode: String?
  /// Frames read from the worker, and written to it (for the console).
  let framesIn = Atomic<Int>(0)
  let framesOut = Atomic<Int>(0)

  init(
    clientId: String, identity: Identity = .anonymous, address: String = "", peerNode: String? = nil,
    outbound: BatchQueue<ChannelFrame> = BatchQueue()
  ) {
    self.clientId = clientId
    self.peerNode = peerNode
    self.identity = identity
    self.address = address
    self.outbound = outbound
  }
}

/// One open `OpenControlChannel` stream.
final class ControlLink: Sendable {
  let clientId: String
  let outbound: AsyncStream<Agents_ControlMessage>.Continuation

  init(clientId: String, outbound: AsyncStream<Agents_ControlMessage>.Continuation) {
    self.clientId = clientId
    self.outbound = outbound
  }
}

/// The host's routing state and rules, independent of the transport.
///
/// The decisions live in pure value types (``PlacementTable``, ``PendingCalls``,
/// ``SubscriptionIndex``); the router holds them with the open streams behind one lock. Every
/// method takes the lock once, decides, and performs the writes after releasing it. Writes are
/// non-blocking appends to each worker's outbound queue.
///
/// The message's path: `AgentRpcService` reads a frame → ``route(_:from:)`` (this file's
/// `+Routing` extension) → the recipient's `WorkerLink.outbound` → its stream's writer.
final class HostRouter: Sendable {
  struct State {
    var channels: [String: WorkerLink] = [:]
    var controls: [String: ControlLink] = [:]
    var placement = PlacementTable()
    var subscriptions = SubscriptionIndex()
    var pending = PendingCalls()
    /// Recent calls per target agent type, for the console.
    var callStats: [AgentType: CallStats] = [:]
    var isShuttingDown = false
    /// In a cluster: where instances live across nodes, the links to the other nodes, and the
    /// messages waiting for their instance's claim (see `HostRouter+Cluster`). Nil for a single host.
    var cluster: ClusterRoutes?
    var directory: (any NodeDirectory)?
    /// Raised by each change to what this host's workers serve and subscribe to (what a cluster's
    /// directory records), so that its writer skips the other changes.
    var localRevision = 0
    var peers: [String: WorkerLink] = [:]
    var awaitingPlacement: [AgentId: [HeldMessage]] = [:]

    /// The connected worker that holds `id` (placing it when it has no place yet); nil when no
    /// connected worker serves its type.
    mutating func place(_ id: AgentId) -> WorkerLink? {
      let channels = self.channels
      return placement.place(id) { channels[$0] != nil }.flatMap { channels[$0] }
    }
  }

  let rpcTimeout: Duration
  /// The host's spans (see `HostRouter+Tracing`): with the tracer installed when it was created.
  let tracing: MessageTracing
  /// The fraction of publishes the host makes a span for, when it traces.
  let tracePublishRatio: Double
  let logger: Logger
  let metrics: HostMetrics
  /// Every routed publish goes past it: the gateway's SSE and `Subscribe` readers.
  let tap: EventTap
  let state = Mutex(State())
  /// Wakes the deadline sweeper when the first pending RPC arrives.
  let sweeperWakeups: AsyncStream<Void>
  let sweeperWakeup: AsyncStream<Void>.Continuation
  /// In a cluster: instances to claim in the directory before their held messages go on (read by
  /// `ClusterMember`).
  let claimRequests: AsyncStream<AgentId>
  let claimRequest: AsyncStream<AgentId>.Continuation

  /// Told of every change to connections, registrations and subscriptions (not per message):
  /// what `AgentHost.statusUpdates()` and tests wait on.
  let changes = Broadcaster<Void>(bufferingPolicy: .bufferingNewest(1))

  init(
    rpcTimeout: Duration, logger: Logger, metrics: HostMetrics, tap: EventTap = EventTap(),
    tracing: MessageTracing = .current, tracePublishRatio: Double = 1
  ) {
    self.rpcTimeout = rpcTimeout
    self.tracing = tracing
    self.tracePublishRatio = tracePublishRatio
    self.logger = logger
    self.metrics = metrics
    self.tap = tap
    defer {
      tap.observeReaders { [weak self] in
        // In a cluster, whether this node's gateway has readers is recorded in the directory.
        self?.state.withLock { $0.localRevision += 1 }
        self?.notifyWatchers()
      }
    }
    (sweeperWakeups, sweeperWakeup) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    (claimRequests, claimRequest) = AsyncStream.makeStream()
  }

  // MARK: Connections

  /// Opens a worker channel.
  func connect(
    clientId: String, identity: Identity = .anonymous, address: String = "", peerNode: String? = nil
  ) throws(RPCError) -> WorkerLink {
    let link = try state.withLock { state throws(RPCError) -> WorkerLink in
      guard !state.isShuttingDown else {
        throw RPCError(code: .unavailable, message: "the host is shutting down")
      }
      guard state.channels[clientId] == nil else {
        throw RPCError(
          code: .alreadyExists,
          message: "client-id '\(clientId)' already has an open channel; use a new client-id per connection")
      }
      let link = WorkerLink(clientId: clientId, identity: identity, address: address, peerNode: peerNode)
      state.channels[clientId] = link
      return link
    }
    logger.info(
      peerNode == nil ? "worker connected" : "peer node connected",
      metadata: ["client-id": "\(clientId)", "identity": "\(identity)", "node": "\(peerNode ?? "-")"])
    notifyWatchers()
    return link
  }

  /// Opens the channel of a caller that lives inside the host (the gateway). It is never refused
  /// (the host makes it first, before any worker connects) and closes with the host.
  func connectInternal(clientId: String) -> WorkerLink {
    state.withLock { state in
      let link = WorkerLink(clientId: clientId)
      state.channels[clientId] = link
      return link
    }
  }

  /// Closes a worker channel: its registrations, subscriptions and placements go away, RPCs
  /// waiting on it are answered with an error, and RPCs it made are forgotten.
  func disconnect(_ link: WorkerLink) {
    let clientId = link.clientId
    let (failed, removedTypes, removedSubscriptions, calls) = state.withLock {
      state -> ([(WorkerLink, ChannelFrame)], [AgentType], Int, (owed: [PendingCalls.Call], abandoned: [PendingCalls.Call])) in
      guard state.channels[clientId] === link else { return ([], [], 0, ([], [])) }
      state.channels[clientId] = nil
      if let node = link.peerNode, state.peers[node] === link { state.peers[node] = nil }
      let types = state.placement.remove(worker: clientId)
      let subscriptions = state.subscriptions.removeAll(ownedBy: clientId)
      state.localRevision += 1
      let calls = state.pending.removeAll(involving: clientId)
      let failed = calls.owed.compactMap { rpc -> (WorkerLink, ChannelFrame)? in
        state.callStats[rpc.target.type, default: CallStats()].record(latency: nil, failed: true)
        return state.channels[rpc.caller].map {
          ($0, .errorResponse(
            requestId: rpc.callerRequestId,
            link.peerNode.map { "lost the link to node '\($0)', which holds agent \(rpc.target), before it responded" }
              ?? "worker '\(clientId)' hosting agent \(rpc.target) disconnected before responding"))
        }
      }
      return (failed, Array(types), subscriptions.count, calls)
    }
    if tracing.isOn {
      for rpc in calls.owed {
        Self.endRouteSpan(rpc.span, error: AgentRuntimeError(code: .unavailable, message: "worker '\(clientId)' disconnected before responding"))
      }
      for rpc in calls.abandoned {
        Self.endRouteSpan(rpc.span, error: AgentRuntimeError(code: .cancelled, message: "the caller '\(clientId)' disconnected"))
      }
    }
    link.outbound.finish()
    metrics.rpcsFailed.increment(by: Int64(failed.count))
    deliver(failed)
    notifyWatchers()
    logger.info(
      "worker disconnected",
      metadata: [
        "client-id": "\(clientId)", "types": "\(removedTypes.map(\.name).sorted())",
        "subscriptions": "\(removedSubscriptions)", "failed-rpcs": "\(failed.count)",
      ])
  }

  func connectControl(clientId: String) throws(RPCError) -> (ControlLink, AsyncStream<Agents_ControlMessage>) {
    let (stream, continuation) = AsyncStream<Agents_ControlMessage>.makeStream()
    let link = try state.withLock { state throws(RPCError) -> ControlLink in
      guard !state.isShuttingDown else {
        throw RPCError(code: .unavailable, message: "the host is shutting down")
      }
      guard state.controls[clientId] == nil else {
        throw RPCError(code: .alreadyExists, message: "client-id '\(clientId)' already has an open control channel")
      }
      let link = ControlLink(clientId: clientId, outbound: continuation)
      state.controls[clientId] = link
      return link
    }
    notifyWatchers()
    return (link, stream)
  }

  func disconnectControl(_ link: ControlLink) {
    state.withLock { state in
      if state.controls[link.clientId] === link { state.controls[link.clientId] = nil }
    }
    link.outbound.finish()
  }

  // MARK: Registration and subscriptions

  /// The refusal of `action` on `target` for `identity`: an audit line and a count.
  func denied(_ identity: Identity, _ action: Permissions.Action, _ target: String, clientId: String? = nil) -> AgentRuntimeError {
    metrics.permissionDenied(action)
    logger.notice(
      "permission denied",
      metadata: ["identity": "\(identity.name)", "action": "\(action)", "target": "\(target)", "client-id": "\(clientId ?? "-")"])
    return identity.denial(action, target)
  }

  func register(type name: String, clientId: String, identity: Identity = .anonymous) throws(RPCError) {
    let type: AgentType
    do {
      type = try AgentType(name)
    } catch {
      throw RPCError(code: .invalidArgument, message: error.message)
    }
    guard identity.allows(.serve, type.name) else {
      throw RPCError(code: .permissionDenied, message: denied(identity, .serve, type.name, clientId: clientId).message)
    }
    try state.withLock { state throws(RPCError) in
      guard !state.isShuttingDown else { throw RPCError(code: .unavailable, message: "the host is shutting down") }
      if state.placement.register(type, worker: clientId) { state.localRevision += 1 }  // idempotent
    }
    logger.info("agent type registered", metadata: ["client-id": "\(clientId)", "type": "\(type)"])
    notifyWatchers()
  }

  func addSubscription(_ wire: Agents_Subscription, clientId: String, identity: Identity = .anonymous) throws(RPCError) {
    let subscription: Subscription
    do {
      subscription = try Subscription(wire: wire)
    } catch {
      throw RPCError(code: .invalidArgument, message: error.message)
    }
    // A subscription brings events on its topics to the agents of its type: the identity must
    // serve that type and watch those topics (a type's own direct-message topics, `type:…`, come
    // with serving it).
    guard identity.allows(.serve, subscription.agentType.name) else {
      throw RPCError(code: .permissionDenied, message: denied(identity, .serve, subscription.agentType.name, clientId: clientId).message)
    }
    let (watches, topics) = switch subscription.filter {
    case .type(let type): (identity.mayReceive(type), type)
    case .typePrefix(let prefix):
      (identity.allows(.watch, everyNameWithPrefix: prefix) || prefix == subscription.agentType.name + ":", prefix + "*")
    }
    guard watches else {
      throw RPCError(code: .permissionDenied, message: denied(identity, .watch, topics, clientId: clientId).message)
    }
    do {
      try state.withLock { state throws(AgentRuntimeError) in
        // Another live node's worker holds the id; one on a node this node lost may move here.
        if let node = state.cluster?.remoteOwner(ofSubscription: subscription.id), state.peers[node] != nil {
          throw AgentRuntimeError(code: .alreadyExists, message: "subscription id '\(subscription.id)' already exists (on node '\(node)')")
        }
        try state.subscriptions.add(subscription, owner: clientId)
        state.localRevision += 1
      }
      logger.debug("subscription added", metadata: ["client-id": "\(clientId)", "subscription": "\(subscription)"])
      notifyWatchers()
    } catch {
      // AutoGen answers duplicates with INVALID_ARGUMENT too.
      throw RPCError(code: .invalidArgument, message: error.message)
    }
  }

  func removeSubscription(id: String) throws(RPCError) {
    do {
      try state.withLock { state throws(AgentRuntimeError) in
        _ = try state.subscriptions.remove(id: id)
        state.localRevision += 1
      }
    } catch {
      throw RPCError(code: .notFound, message: error.message)
    }
    notifyWatchers()
  }

  var subscriptions: [Subscription] { state.withLock { $0.subscriptions.all } }
}
