import AgentCore
import AgentWire
import Foundation
import GRPCCore
import Logging
import Prometheus
import SwiftProtobuf
import Synchronization

/// One open `OpenChannel` stream: where the host writes messages for that worker.
final class WorkerLink: Sendable {
  let clientId: String
  let serial: UInt64
  /// Frames for the worker; the stream's writer sends whatever has queued up in one batch.
  let outbound: BatchQueue<ChannelFrame>

  init(clientId: String, serial: UInt64, outbound: BatchQueue<ChannelFrame>) {
    self.clientId = clientId
    self.serial = serial
    self.outbound = outbound
  }
}

/// One open `OpenControlChannel` stream.
final class ControlLink: Sendable {
  let clientId: String
  let serial: UInt64
  let outbound: AsyncStream<Agents_ControlMessage>.Continuation

  init(clientId: String, serial: UInt64, outbound: AsyncStream<Agents_ControlMessage>.Continuation) {
    self.clientId = clientId
    self.serial = serial
    self.outbound = outbound
  }
}

/// The host's routing state and rules, independent of the transport.
///
/// Every method takes the lock once, decides, and returns or performs the writes after releasing
/// it. Writes are non-blocking yields into each worker's outbound stream.
final class HostRouter: Sendable {
  struct PendingRPC {
    var caller: String
    var callerRequestId: String
    var callee: String
    var target: AgentId
    var started: ContinuousClock.Instant
    /// The caller asked for chunks: the callee's chunk events go to it.
    var streaming: Bool
  }

  fileprivate struct State {
    var channels: [String: WorkerLink] = [:]
    var controls: [String: ControlLink] = [:]
    /// Workers serving each type, in registration order (including ones with no channel yet).
    var workersByType: [AgentType: [String]] = [:]
    var typesByClient: [String: Set<AgentType>] = [:]
    var subscriptions = SubscriptionIndex()
    /// Where each agent instance lives while its worker is connected.
    var placements: [AgentId: String] = [:]
    var placedByClient: [String: Set<AgentId>] = [:]
    var placementLoad: [AgentType: [String: Int]] = [:]
    /// RPCs forwarded and not yet answered, by the host's own request id.
    var pending: [String: PendingRPC] = [:]
    /// Host request ids in deadline order (one timeout for all, so insertion order is deadline order).
    var deadlineQueue: [(id: String, deadline: ContinuousClock.Instant)] = []
    var deadlineHead = 0
    var nextRequestId: UInt64 = 1
    var nextSerial: UInt64 = 1
    var isShuttingDown = false
  }

  let rpcTimeout: Duration
  let logger: Logger
  let metrics: HostMetrics
  /// Every routed publish goes past it: the gateway's SSE and `Subscribe` readers.
  let tap: EventTap
  private let state = Mutex(State())
  /// Wakes the deadline sweeper when the first pending RPC arrives.
  private let sweeperWakeups: AsyncStream<Void>
  private let sweeperWakeup: AsyncStream<Void>.Continuation

  /// Woken on every change to connections, registrations and subscriptions (not per message).
  private let watchers = Mutex<[Int: AsyncStream<Void>.Continuation]>([:])
  private let nextWatcher = Atomic<Int>(0)

  init(rpcTimeout: Duration, logger: Logger, metrics: HostMetrics, tap: EventTap = EventTap()) {
    self.rpcTimeout = rpcTimeout
    self.logger = logger
    self.metrics = metrics
    self.tap = tap
    defer { tap.observeReaders { [weak self] in self?.notifyWatchers() } }
    (sweeperWakeups, sweeperWakeup) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
  }

  // MARK: Connections

  /// Opens a worker channel.
  func connect(clientId: String) throws(RPCError) -> WorkerLink {
    let link = try state.withLock { state throws(RPCError) -> WorkerLink in
      guard !state.isShuttingDown else {
        throw RPCError(code: .unavailable, message: "the host is shutting down")
      }
      guard state.channels[clientId] == nil else {
        throw RPCError(
          code: .alreadyExists,
          message: "client-id '\(clientId)' already has an open channel; use a new client-id per connection")
      }
      let link = WorkerLink(clientId: clientId, serial: state.nextSerial, outbound: BatchQueue())
      state.nextSerial += 1
      state.channels[clientId] = link
      return link
    }
    logger.info("worker connected", metadata: ["client-id": "\(clientId)"])
    notifyWatchers()
    return link
  }

  /// Opens the channel of a caller that lives inside the host (the gateway). It is never refused
  /// (the host makes it first, before any worker connects) and closes with the host.
  func connectInternal(clientId: String) -> WorkerLink {
    state.withLock { state in
      let link = WorkerLink(clientId: clientId, serial: state.nextSerial, outbound: BatchQueue())
      state.nextSerial += 1
      state.channels[clientId] = link
      return link
    }
  }

  /// Closes a worker channel: its registrations, subscriptions and placements go away, RPCs
  /// waiting on it are answered with an error, and RPCs it made are forgotten.
  func disconnect(_ link: WorkerLink) {
    let clientId = link.clientId
    let (failed, removedTypes, removedSubscriptions) = state.withLock { state -> ([(WorkerLink, ChannelFrame)], [AgentType], Int) in
      guard state.channels[clientId] === link else { return ([], [], 0) }
      state.channels[clientId] = nil
      let types = state.typesByClient.removeValue(forKey: clientId) ?? []
      for type in types {
        state.workersByType[type]?.removeAll { $0 == clientId }
        if state.workersByType[type]?.isEmpty == true { state.workersByType[type] = nil }
        state.placementLoad[type]?[clientId] = nil
      }
      for id in state.placedByClient.removeValue(forKey: clientId) ?? [] where state.placements[id] == clientId {
        state.placements[id] = nil
      }
      let subscriptions = state.subscriptions.removeAll(ownedBy: clientId)
      var failed: [(WorkerLink, ChannelFrame)] = []
      for (id, rpc) in state.pending where rpc.callee == clientId || rpc.caller == clientId {
        state.pending[id] = nil
        guard rpc.callee == clientId, let caller = state.channels[rpc.caller] else { continue }
        failed.append((caller, .errorResponse(
          requestId: rpc.callerRequestId,
          "worker '\(clientId)' hosting agent \(rpc.target) disconnected before responding")))
      }
      return (failed, Array(types), subscriptions.count)
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
      let link = ControlLink(clientId: clientId, serial: state.nextSerial, outbound: continuation)
      state.nextSerial += 1
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

  func register(type name: String, clientId: String) throws(RPCError) {
    let type: AgentType
    do {
      type = try AgentType(name)
    } catch {
      throw RPCError(code: .invalidArgument, message: error.message)
    }
    try state.withLock { state throws(RPCError) in
      guard !state.isShuttingDown else { throw RPCError(code: .unavailable, message: "the host is shutting down") }
      guard state.typesByClient[clientId]?.contains(type) != true else { return }  // idempotent
      state.typesByClient[clientId, default: []].insert(type)
      state.workersByType[type, default: []].append(clientId)
    }
    logger.info("agent type registered", metadata: ["client-id": "\(clientId)", "type": "\(type)"])
    notifyWatchers()
  }

  func addSubscription(_ wire: Agents_Subscription, clientId: String) throws(RPCError) {
    do {
      let subscription = try Subscription(wire: wire)
      try state.withLock { state throws(AgentRuntimeError) in
        try state.subscriptions.add(subscription, owner: clientId)
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
      try state.withLock { state throws(AgentRuntimeError) in _ = try state.subscriptions.remove(id: id) }
    } catch {
      throw RPCError(code: .notFound, message: error.message)
    }
  }

  var subscriptions: [Subscription] { state.withLock { $0.subscriptions.all } }

  /// Every served agent type with its connected workers and subscriptions.
  var agentTypes: [(type: AgentType, workers: Int, subscriptions: [Subscription])] {
    state.withLock { state in
      let subscriptions = Dictionary(grouping: state.subscriptions.all, by: \.agentType)
      return state.workersByType.keys.sorted().map { type in
        let workers = state.workersByType[type]!.filter { state.channels[$0] != nil }.count
        return (type, workers, subscriptions[type] ?? [])
      }
    }
  }

  // MARK: Routing

  /// Routes one frame from a worker's channel.
  func route(_ frame: ChannelFrame, from link: WorkerLink) {
    switch frame {
    case .request(let request):
      routeRequest(request, from: link)
    case .response(let response):
      routeResponse(response, from: link)
    case .event(let event):
      routeEvent(event, from: link)
    case .empty:
      logger.warning("message with no case set ignored", metadata: ["client-id": "\(link.clientId)"])
    case .oversized(let frame):
      routeOversized(frame, from: link)
    }
  }

  /// A frame over the size limit: a request is answered with an error, a response becomes an
  /// error for its caller, an event is dropped (the protocol has no way to answer one). The
  /// sender's stream carries on.
  private func routeOversized(_ frame: OversizedFrame, from link: WorkerLink) {
    metrics.oversizedFrames.increment()
    logger.warning(
      "oversized frame refused",
      metadata: ["client-id": "\(link.clientId)", "kind": "\(frame.kind.rawValue)", "bytes": "\(frame.size)"])
    switch frame.kind {
    case .request:
      metrics.rpcsFailed.increment()
      link.outbound.append(.errorResponse(requestId: frame.requestId ?? "", frame.reason, code: .resourceExhausted))
    case .response:
      if let (caller, rpc) = takePending(frame.requestId ?? "", answeredBy: link) {
        metrics.rpcsFailed.increment()
        caller.outbound.append(
          .errorResponse(requestId: rpc.callerRequestId, "the response from \(rpc.target) was refused: \(frame.reason)", code: .resourceExhausted))
      }
    case .event, .other:
      break
    }
  }

  private func routeRequest(_ request: RawRpcRequest, from link: WorkerLink) {
    func refuse(_ text: String, code: AgentRuntimeError.Code = .invalidArgument) {
      logger.info("rpc refused", metadata: ["client-id": "\(link.clientId)", "request-id": "\(request.requestId)", "error": "\(text)"])
      metrics.rpcsFailed.increment()
      link.outbound.append(.errorResponse(requestId: request.requestId, text, code: code))
    }
    guard let wireTarget = request.target else {
      return refuse("RpcRequest '\(request.requestId)' has no target")
    }
    let target: AgentId
    do {
      target = try AgentId(type: wireTarget.type, key: wireTarget.key)
    } catch {
      return refuse("RpcRequest '\(request.requestId)' has an invalid target: \(error.message)")
    }
    let timeout = rpcTimeout
    let outcome = state.withLock { state -> Result<(WorkerLink, String, Bool), AgentRuntimeError> in
      guard !state.isShuttingDown else {
        return .failure(AgentRuntimeError(code: .unavailable, message: "the host is shutting down"))
      }
      guard let callee = state.place(target) else {
        return .failure(AgentRuntimeError(
          code: .unknownAgentType, message: "no worker serves agent type '\(target.type)'"))
      }
      let hostId = "h\(state.nextRequestId)"
      state.nextRequestId += 1
      let now = ContinuousClock.now
      let deadline = now.advanced(by: timeout)
      state.pending[hostId] = PendingRPC(
        caller: link.clientId, callerRequestId: request.requestId, callee: callee.clientId,
        target: target, started: now, streaming: request.wantsChunks)
      let wasIdle = state.deadlineHead == state.deadlineQueue.count
      state.deadlineQueue.append((hostId, deadline))
      return .success((callee, hostId, wasIdle))
    }
    switch outcome {
    case .failure(let error):
      refuse(error.message, code: error.code)
    case .success(let (callee, hostId, wasIdle)):
      metrics.requestsRouted.increment()
      if wasIdle { sweeperWakeup.yield() }
      var forwarded = request
      forwarded.requestId = hostId
      if !callee.outbound.append(.request(forwarded)) {
        // The callee is going away; its disconnect answers the caller.
        logger.debug("rpc forwarded to a closing worker", metadata: ["client-id": "\(callee.clientId)"])
      }
    }
  }

  /// Removes the pending RPC `hostId` answered by its callee `link`, with its caller's channel.
  /// Nil when there is no such RPC from this callee, or its caller has gone.
  private func takePending(_ hostId: String, answeredBy link: WorkerLink) -> (WorkerLink, PendingRPC)? {
    state.withLock { state in
      guard let rpc = state.pending[hostId], rpc.callee == link.clientId else { return nil }
      state.pending[hostId] = nil
      return state.channels[rpc.caller].map { ($0, rpc) }
    }
  }

  private func routeResponse(_ response: RawRpcResponse, from link: WorkerLink) {
    guard let (callerLink, rpc) = takePending(response.requestId, answeredBy: link) else {
      logger.warning(
        "response for an unknown request id dropped",
        metadata: ["client-id": "\(link.clientId)", "request-id": "\(response.requestId)"])
      return
    }
    metrics.responsesRouted.increment()
    metrics.rpcLatency.record(ContinuousClock.now - rpc.started)
    if response.isNeitherResultNorError {
      metrics.rpcsFailed.increment()
      logger.info(
        "response with neither a result nor an error turned into an error",
        metadata: ["client-id": "\(link.clientId)", "request-id": "\(response.requestId)"])
      callerLink.outbound.append(.errorResponse(
        requestId: rpc.callerRequestId,
        "the agent \(rpc.target) on worker '\(rpc.callee)' answered with neither a result nor an error "
          + "(an AutoGen worker does so when the handler was cancelled, e.g. the worker stopping, "
          + "or raised an exception with no message)",
        code: .handlerFailed))
      return
    }
    var forwarded = response
    forwarded.requestId = rpc.callerRequestId
    callerLink.outbound.append(.response(forwarded))
  }

  private func routeEvent(_ event: RawCloudEvent, from link: WorkerLink) {
    if let hostId = StreamedCallWire.requestId(ofTopicType: event.type) {
      return routeChunk(event, hostId: String(hostId), from: link)
    }
    if event.type == StreamedCallWire.cancelEventType {
      return abandon(callerRequestId: event.source, caller: link)
    }
    let topic: TopicId
    do {
      topic = try TopicId(type: event.type, source: event.source)
    } catch {
      logger.warning(
        "cloud event with an invalid topic dropped",
        metadata: ["client-id": "\(link.clientId)", "event-id": "\(event.id)", "error": "\(error.message)"])
      return
    }
    let copies = state.withLock { state -> [(WorkerLink, [AgentType]?)] in
      let types = state.subscriptions.agentTypes(matching: topic)
      guard !types.isEmpty else { return [] }
      var byWorker: [(WorkerLink, [AgentType])] = []
      for type in types {
        guard let worker = state.place(AgentId(type: type, key: topic.source)) else { continue }
        if let index = byWorker.firstIndex(where: { $0.0 === worker }) {
          byWorker[index].1.append(type)
        } else {
          byWorker.append((worker, [type]))
        }
      }
      return byWorker.map { worker, placedTypes in
        // The worker delivers to all its matching types unless told which: tell it only when some
        // matching type it serves has this instance placed on another worker.
        let served = state.typesByClient[worker.clientId] ?? []
        let needsHint = types.contains { served.contains($0) && !placedTypes.contains($0) }
        return (worker, needsHint ? placedTypes : nil)
      }
    }
    metrics.eventsRouted.increment()
    metrics.eventDeliveries.increment(by: Int64(copies.count))
    tap.offer(event)
    for (worker, hint) in copies {
      var copy = event
      if let hint {
        copy.appendStringAttribute(CloudEventAttribute.recipientTypes, hint.map(\.name).joined(separator: ","))
      }
      worker.outbound.append(.event(copy))
    }
  }

  // MARK: Streamed calls

  /// A chunk of a streamed call: to that call's caller only, renamed to the caller's request id.
  /// Dropped when the call is not pending (answered, expired) or did not ask for chunks.
  private func routeChunk(_ event: RawCloudEvent, hostId: String, from link: WorkerLink) {
    let destination = state.withLock { state -> (WorkerLink, String)? in
      guard let rpc = state.pending[hostId], rpc.callee == link.clientId, rpc.streaming,
        let caller = state.channels[rpc.caller]
      else { return nil }
      return (caller, rpc.callerRequestId)
    }
    guard let (caller, callerRequestId) = destination else {
      logger.debug("chunk for no streamed call dropped", metadata: ["client-id": "\(link.clientId)", "topic": "\(event.type)"])
      return
    }
    do {
      caller.outbound.append(.event(try event.withType(StreamedCallWire.topicType(requestId: callerRequestId))))
      metrics.chunksRouted.increment()
    } catch {
      logger.warning("malformed chunk dropped", metadata: ["client-id": "\(link.clientId)", "error": "\(error)"])
    }
  }

  /// The caller of `callerRequestId` has stopped waiting (an HTTP client went away, a gateway
  /// deadline): forget the call, and tell the callee to cancel its handler.
  func abandon(callerRequestId: String, caller: WorkerLink) {
    let callee = state.withLock { state -> (WorkerLink, String)? in
      guard let (hostId, rpc) = state.pending.first(where: {
        $0.value.caller == caller.clientId && $0.value.callerRequestId == callerRequestId
      }) else { return nil }
      state.pending[hostId] = nil
      return state.channels[rpc.callee].map { ($0, hostId) }
    }
    guard let (callee, hostId) = callee else { return }
    if let bytes: [UInt8] = try? Io_Cloudevents_V1_CloudEvent.cancelNotice(requestId: hostId).serializedBytes(),
      let raw = try? RawCloudEvent(bytes: bytes)
    {
      callee.outbound.append(.event(raw))
    }
  }

  // MARK: Control channel

  func routeControl(_ message: Agents_ControlMessage, from link: ControlLink) {
    let destination = message.destination
    let recipient: Result<ControlLink, AgentRuntimeError> = {
      if destination.hasPrefix("clientid=") {
        let clientId = String(destination.dropFirst("clientid=".count))
        return state.withLock { state in
          state.controls[clientId].map { .success($0) }
            ?? .failure(AgentRuntimeError(code: .notFound, message: "no control channel for client '\(clientId)'"))
        }
      }
      if destination.hasPrefix("agentid=") {
        let agentId: AgentId
        do {
          agentId = try AgentId(parsing: String(destination.dropFirst("agentid=".count)))
        } catch let error as AgentRuntimeError {
          return .failure(error)
        } catch {
          return .failure(AgentRuntimeError(code: .invalidArgument, message: "\(error)"))
        }
        return state.withLock { state in
          guard let worker = state.place(agentId) else {
            return .failure(AgentRuntimeError(code: .unknownAgentType, message: "no worker serves agent type '\(agentId.type)'"))
          }
          return state.controls[worker.clientId].map { .success($0) }
            ?? .failure(AgentRuntimeError(
              code: .notFound, message: "worker '\(worker.clientId)' hosting \(agentId) has no control channel"))
        }
      }
      return .failure(AgentRuntimeError(
        code: .invalidArgument,
        message: "invalid destination '\(destination)': expected 'clientid=ID' or 'agentid=TYPE/KEY'"))
    }()
    switch recipient {
    case .success(let target):
      _ = target.outbound.yield(message)
    case .failure(let error):
      logger.warning(
        "control message not delivered",
        metadata: ["client-id": "\(link.clientId)", "rpc-id": "\(message.rpcID)", "error": "\(error.message)"])
      if let reply = Agents_ControlMessage.errorReply(to: message, from: link.clientId, error.message) {
        _ = link.outbound.yield(reply)
      }
    }
  }

  // MARK: Deadlines and shutdown

  /// Answers RPCs whose deadline passed, until `shutdown()`.
  func runDeadlineSweeper() async {
    var wakeups = sweeperWakeups.makeAsyncIterator()
    while !Task.isCancelled {
      let next: ContinuousClock.Instant? = state.withLock { state in
        // Skip entries already answered.
        while state.deadlineHead < state.deadlineQueue.count,
          state.pending[state.deadlineQueue[state.deadlineHead].id] == nil
        {
          state.deadlineHead += 1
        }
        if state.deadlineHead > 1024, state.deadlineHead * 2 > state.deadlineQueue.count {
          state.deadlineQueue.removeFirst(state.deadlineHead)
          state.deadlineHead = 0
        }
        return state.deadlineHead < state.deadlineQueue.count ? state.deadlineQueue[state.deadlineHead].deadline : nil
      }
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
      var expired: [(WorkerLink, ChannelFrame)] = []
      while state.deadlineHead < state.deadlineQueue.count, state.deadlineQueue[state.deadlineHead].deadline <= now {
        let id = state.deadlineQueue[state.deadlineHead].id
        state.deadlineHead += 1
        guard let rpc = state.pending.removeValue(forKey: id), let caller = state.channels[rpc.caller] else { continue }
        expired.append((caller, .errorResponse(
          requestId: rpc.callerRequestId,
          "timed out after \(timeout.secondsDescription) waiting for agent \(rpc.target) on worker '\(rpc.callee)'",
          code: .deadlineExceeded)))
      }
      return expired
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
      let failed = state.pending.values.compactMap { rpc -> (WorkerLink, ChannelFrame)? in
        state.channels[rpc.caller].map {
          ($0, .errorResponse(requestId: rpc.callerRequestId, "the host is shutting down; agent \(rpc.target) did not respond"))
        }
      }
      state.pending = [:]
      return (failed, Array(state.channels.values), Array(state.controls.values))
    }
    metrics.rpcsFailed.increment(by: Int64(failed.count))
    deliver(failed)
    for channel in channels { channel.outbound.finish() }
    for control in controls { control.outbound.finish() }
    sweeperWakeup.finish()
  }

  private func deliver(_ messages: [(WorkerLink, ChannelFrame)]) {
    for (link, message) in messages { link.outbound.append(message) }
  }

  // MARK: Introspection (for tests and metrics)

  private func notifyWatchers() {
    for watcher in watchers.withLock({ Array($0.values) }) { watcher.yield() }
  }

  /// Waits until `predicate` holds for the routing state, re-checking after every change to
  /// connections, registrations and subscriptions. Returns false after `timeout`.
  func waitUntil(timeout: Duration, _ predicate: @escaping @Sendable (Snapshot) -> Bool) async -> Bool {
    let id = nextWatcher.add(1, ordering: .relaxed).newValue
    let (changes, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    watchers.withLock { $0[id] = continuation }
    defer { watchers.withLock { $0[id] = nil } }
    continuation.yield()  // check the current state first
    return await withTaskGroup(of: Bool.self) { group in
      group.addTask {
        for await _ in changes where predicate(self.snapshot) { return true }
        return false
      }
      group.addTask {
        try? await Task.sleep(for: timeout)
        return false
      }
      let result = await group.next()!
      group.cancelAll()
      continuation.finish()
      return result
    }
  }

  struct Snapshot: Sendable {
    var connectedClients: Set<String>
    var controlClients: Set<String>
    var connectedWorkers: Int { connectedClients.count }
    var registeredTypes: [AgentType: [String]]
    var subscriptions: Int
    var pendingRPCs: Int
    var placements: [AgentId: String]
    var tapReaders: Int = 0
  }

  var snapshot: Snapshot {
    state.withLock { state in
      Snapshot(
        connectedClients: Set(state.channels.keys).subtracting([Gateway.clientId]),
        controlClients: Set(state.controls.keys),
        registeredTypes: state.workersByType,
        subscriptions: state.subscriptions.count,
        pendingRPCs: state.pending.count,
        placements: state.placements,
        tapReaders: tap.openReaders)
    }
  }
}

extension HostRouter.State {
  /// The connected worker that holds `id`, placing it on the least-loaded worker serving its type
  /// when it has no place yet. Nil when no connected worker serves the type.
  fileprivate mutating func place(_ id: AgentId) -> WorkerLink? {
    if let clientId = placements[id], let link = channels[clientId] { return link }
    guard let candidates = workersByType[id.type] else { return nil }
    var best: (link: WorkerLink, load: Int)?
    for clientId in candidates {
      guard let link = channels[clientId] else { continue }
      let load = placementLoad[id.type]?[clientId] ?? 0
      if best == nil || load < best!.load { best = (link, load) }
    }
    guard let chosen = best?.link else { return nil }
    placements[id] = chosen.clientId
    placedByClient[chosen.clientId, default: []].insert(id)
    placementLoad[id.type, default: [:]][chosen.clientId, default: 0] += 1
    return chosen
  }
}

extension ChannelFrame {
  static func errorResponse(
    requestId: String, _ text: String, code: AgentRuntimeError.Code = .unavailable
  ) -> ChannelFrame {
    .response(RawRpcResponse(Agents_RpcResponse(requestId: requestId, error: AgentRuntimeError(code: code, message: text))))
  }
}

extension Agents_ControlMessage {
  /// The error answer to an undeliverable control request, shaped as the response type the
  /// request expects; nil when `message` is itself a response (nobody to answer).
  static func errorReply(to message: Agents_ControlMessage, from clientId: String, _ text: String) -> Agents_ControlMessage? {
    let payload: any SwiftProtobuf.Message
    if message.rpcMessage.isA(Agents_SaveStateRequest.self) {
      payload = Agents_SaveStateResponse.with { $0.error = text }
    } else if message.rpcMessage.isA(Agents_LoadStateRequest.self) {
      payload = Agents_LoadStateResponse.with { $0.error = text }
    } else {
      return nil
    }
    guard let any = try? Google_Protobuf_Any(message: payload) else { return nil }
    return .with {
      $0.rpcID = message.rpcID
      $0.destination = message.hasRespondTo ? message.respondTo : "clientid=\(clientId)"
      $0.rpcMessage = any
    }
  }
}
