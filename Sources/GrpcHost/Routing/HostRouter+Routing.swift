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
      if let (caller, rpc) = takePending(frame.requestId ?? "", answeredBy: link, failed: true) {
        metrics.rpcsFailed.increment()
        Self.endRouteSpan(rpc.span, error: AgentRuntimeError(code: .resourceExhausted, message: frame.reason))
        caller.outbound.append(
          .errorResponse(requestId: rpc.callerRequestId, "the response from \(rpc.target) was refused: \(frame.reason)", code: .resourceExhausted))
      }
    case .event, .other:
      break
    }
  }

  private func routeRequest(_ request: RawRpcRequest, from link: WorkerLink) {
    var request = request
    let span = startRouteSpan(&request, target: request.target?.type ?? "?", from: link)
    func refuse(_ text: String, code: AgentRuntimeError.Code = .invalidArgument) {
      logger.info("rpc refused", metadata: ["client-id": "\(link.clientId)", "request-id": "\(request.requestId)", "error": "\(text)"])
      metrics.rpcsFailed.increment()
      link.outbound.append(.errorResponse(requestId: request.requestId, text, code: code))
      Self.endRouteSpan(span, error: AgentRuntimeError(code: code, message: text))
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
    guard link.identity.allows(.call, target.type.name) else {
      let denial = denied(link.identity, .call, target.type.name, clientId: link.clientId)
      return refuse(denial.message, code: denial.code)
    }
    dispatch(request, target: target, from: link, span: span)
  }

  /// Sends a checked request to its callee: a worker, or in a cluster the node holding its
  /// target, or holds it while the target's instance is claimed.
  func dispatch(_ request: RawRpcRequest, target: AgentId, from link: WorkerLink, span: (any Span)?) {
    let timeout = rpcTimeout
    let outcome = state.withLock { state -> Result<(WorkerLink, String, Bool)?, AgentRuntimeError> in
      guard !state.isShuttingDown else {
        return .failure(AgentRuntimeError(code: .unavailable, message: "the host is shutting down"))
      }
      let callee: WorkerLink
      switch state.resolve(target, fromPeer: link.peerNode != nil) {
      case .worker(let worker):
        callee = worker
      case .claim:
        if state.hold(.request(request, target: target, caller: link, span: span), for: target) { claimRequest.yield(target) }
        return .success(nil)
      case .failure(let error):
        return .failure(error)
      }
      let now = ContinuousClock.now
      let (hostId, wakeSweeper) = state.pending.add(PendingCalls.Call(
        caller: link.clientId, callerRequestId: request.requestId, callee: callee.clientId,
        target: target, started: now, deadline: now.advanced(by: timeout), streaming: request.wantsChunks, span: span))
      return .success((callee, hostId, wakeSweeper))
    }
    switch outcome {
    case .failure(let error):
      logger.info("rpc refused", metadata: ["client-id": "\(link.clientId)", "request-id": "\(request.requestId)", "error": "\(error.message)"])
      metrics.rpcsFailed.increment()
      link.outbound.append(.errorResponse(requestId: request.requestId, error.message, code: error.code))
      Self.endRouteSpan(span, error: error)
    case .success(nil):
      break  // held until its instance is claimed
    case .success(let (callee, hostId, wakeSweeper)?):
      metrics.requestsRouted.increment()
      if wakeSweeper { sweeperWakeup.yield() }
      if let span {
        span.attributes["agents.recipient"] = target.description
        span.attributes["agents.callee.worker"] = callee.clientId
        span.attributes["agents.callee.identity"] = callee.identity.name
      }
      var forwarded = request
      forwarded.requestId = hostId
      if !callee.outbound.append(.request(forwarded)) {
        // The callee is going away; its disconnect answers the caller.
        logger.debug("rpc forwarded to a closing worker", metadata: ["client-id": "\(callee.clientId)"])
      }
    }
  }

  /// Removes the pending RPC `hostId` answered by its callee `link` (`failed`: with an error),
  /// with its caller's channel. Nil when there is no such RPC from this callee, or its caller has gone.
  private func takePending(
    _ hostId: String, answeredBy link: WorkerLink, failed: Bool, now: ContinuousClock.Instant = .now
  ) -> (WorkerLink, PendingCalls.Call)? {
    state.withLock { state in
      guard let rpc = state.pending.answer(hostId, by: link.clientId) else { return nil }
      state.callStats[rpc.target.type, default: CallStats()].record(latency: now - rpc.started, failed: failed)
      return state.channels[rpc.caller].map { ($0, rpc) }
    }
  }

  private func routeResponse(_ response: RawRpcResponse, from link: WorkerLink) {
    let now = ContinuousClock.now
    guard let (callerLink, rpc) = takePending(
      response.requestId, answeredBy: link, failed: response.isError || response.isNeitherResultNorError, now: now)
    else {
      logger.warning(
        "response for an unknown request id dropped",
        metadata: ["client-id": "\(link.clientId)", "request-id": "\(response.requestId)"])
      return
    }
    metrics.responsesRouted.increment()
    metrics.rpcLatency.record(now - rpc.started)
    if response.isNeitherResultNorError {
      metrics.rpcsFailed.increment()
      Self.endRouteSpan(rpc.span, error: AgentRuntimeError(code: .handlerFailed, message: "answered with neither a result nor an error"))
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
    Self.endRouteSpan(rpc.span, response: response)
    var forwarded = response
    forwarded.requestId = rpc.callerRequestId
    callerLink.outbound.append(.response(forwarded))
  }

  private func routeEvent(_ event: RawCloudEvent, from link: WorkerLink) {
    var event = event
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
    // Checked against the channel's identity, whatever the event's attributes claim.
    guard link.identity.allows(.publish, topic.type) else {
      _ = denied(link.identity, .publish, topic.type, clientId: link.clientId)
      return
    }
    let span = startDeliverSpan(&event, topic: topic, from: link)
    defer { span?.end() }
    let copies = state.withLock { state -> [EventCopy] in
      if state.cluster != nil { return clusterCopies(&state, of: event, topic: topic, from: link) }
      let types = state.subscriptions.agentTypes(matching: topic)
      guard !types.isEmpty else { return [] }
      return state.localCopies(to: types, source: topic.source, topic: topic, matching: types)
    }
    metrics.eventsRouted.increment()
    metrics.eventDeliveries.increment(by: Int64(copies.count))
    span?.attributes["agents.deliveries"] = copies.count
    tap.offer(event)  // a peer node sends each publish here once
    send(copies, of: event)
  }

  /// Sends each copy of `event`, with the recipient types it names.
  func send(_ copies: [EventCopy], of event: RawCloudEvent) {
    for copy in copies {
      var sent = event
      switch copy.recipients {
      case .all: break
      case .workerTypes(let types):
        sent.appendStringAttribute(CloudEventAttribute.recipientTypes, types.map(\.name).joined(separator: ","))
      case .nodeTypes(let types):
        sent.appendStringAttribute(CloudEventAttribute.nodeTypes, types.map(\.name).joined(separator: ","))
      }
      copy.link.outbound.append(.event(sent))
    }
  }

  // MARK: Streamed calls

  /// A chunk of a streamed call: to that call's caller only, renamed to the caller's request id.
  /// Dropped when the call is not pending (answered, expired) or did not ask for chunks.
  private func routeChunk(_ event: RawCloudEvent, hostId: String, from link: WorkerLink) {
    let destination = state.withLock { state -> (WorkerLink, String, (any Span)?)? in
      guard let rpc = state.pending.call(hostId, calleeIs: link.clientId), rpc.streaming,
        let caller = state.channels[rpc.caller]
      else { return nil }
      return (caller, rpc.callerRequestId, rpc.span)
    }
    guard let (caller, callerRequestId, span) = destination else {
      logger.debug("chunk for no streamed call dropped", metadata: ["client-id": "\(link.clientId)", "topic": "\(event.type)"])
      return
    }
    do {
      caller.outbound.append(.event(try event.withType(StreamedCallWire.topicType(requestId: callerRequestId))))
      metrics.chunksRouted.increment()
      MessageTracing.chunk(span, sequence: UInt64(event.source) ?? 0, messageType: nil)
    } catch {
      logger.warning("malformed chunk dropped", metadata: ["client-id": "\(link.clientId)", "error": "\(error)"])
    }
  }

  /// The caller of `callerRequestId` has stopped waiting (an HTTP client went away, a gateway
  /// deadline): forget the call, and tell the callee to cancel its handler.
  func abandon(callerRequestId: String, caller: WorkerLink) {
    let abandoned = state.withLock { state -> (PendingCalls.Call, String, WorkerLink?)? in
      guard let (hostId, rpc) = state.pending.abandon(caller: caller.clientId, callerRequestId: callerRequestId) else {
        return nil
      }
      return (rpc, hostId, state.channels[rpc.callee])
    }
    guard let (rpc, hostId, callee) = abandoned else { return }
    Self.endRouteSpan(rpc.span, error: AgentRuntimeError(code: .cancelled, message: "the caller stopped waiting"))
    guard let callee else { return }
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
}

/// One copy of a published event: to a worker, or to another node of the cluster.
struct EventCopy {
  enum Recipients {
    /// The worker delivers to all the subscribed types it serves.
    case all
    /// The worker delivers to these only (some types it serves have this instance elsewhere).
    case workerTypes([AgentType])
    /// The node delivers to these, on its workers.
    case nodeTypes([AgentType])
  }

  var link: WorkerLink
  var recipients: Recipients
}

extension HostRouter.State {
  /// The copies of an event on `topic` for this host's workers holding the instances
  /// (`type`, `source`) of `types` (placing them when they have no place yet); `matching` is
  /// every type subscribed here to the topic, against which each worker's copy says which of its
  /// types it is for.
  mutating func localCopies(to types: [AgentType], source: String, topic: TopicId, matching: [AgentType]) -> [EventCopy] {
    var byWorker: [(WorkerLink, [AgentType])] = []
    for type in types {
      guard let worker = place(AgentId(type: type, key: source)),
        worker.identity.mayReceive(topic.type)  // a worker receives only what it may watch
      else { continue }
      if let index = byWorker.firstIndex(where: { $0.0 === worker }) {
        byWorker[index].1.append(type)
      } else {
        byWorker.append((worker, [type]))
      }
    }
    return byWorker.map { worker, placedTypes in
      // The worker delivers to all its matching types unless told which: tell it only when some
      // matching type it serves has this instance placed on another worker (or node).
      let served = placement.types(servedBy: worker.clientId)
      let needsHint = matching.contains { served.contains($0) && !placedTypes.contains($0) }
      return EventCopy(link: worker, recipients: needsHint ? .workerTypes(placedTypes) : .all)
    }
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
