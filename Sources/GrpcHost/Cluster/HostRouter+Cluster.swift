import AgentCore
import AgentWire
import Foundation
import GRPCCore
import Logging
import Prometheus
import Synchronization
import Tracing

/// A message waiting for its instance's claim in the directory.
enum HeldMessage {
  case request(RawRpcRequest, target: AgentId, caller: WorkerLink, span: (any Span)?)
  case event(RawCloudEvent, topic: TopicId, type: AgentType)
}

extension HostRouter.State {
  enum Resolution {
    case worker(WorkerLink)
    /// Held until the instance is claimed.
    case claim
    case failure(AgentRuntimeError)
  }

  /// Where a message for `id` goes: a worker of this host, the link to the node holding it, or a
  /// claim first (in a cluster).
  mutating func resolve(_ id: AgentId, fromPeer: Bool) -> Resolution {
    guard let cluster else {
      return place(id).map { .worker($0) }
        ?? .failure(AgentRuntimeError(code: .unknownAgentType, message: "no worker serves agent type '\(id.type)'"))
    }
    // Behind a claim in flight, in order.
    if awaitingPlacement[id] != nil { return .claim }
    let peers = self.peers
    let owner = directory?.owner(of: id)
    switch cluster.destination(of: id, owner: owner, servedHere: placement.serves(id.type), fromPeer: fromPeer, isLinked: { peers[$0] != nil }) {
    case .local:
      return place(id).map { .worker($0) }
        ?? .failure(AgentRuntimeError(
          code: .unknownAgentType, message: "no worker of node '\(cluster.nodeName)' serves agent type '\(id.type)', which holds \(id)"))
    case .node(let node):
      return peers[node].map { .worker($0) }
        ?? .failure(AgentRuntimeError(
          code: .unavailable, message: "node '\(node)', which holds \(id), cannot be reached from node '\(cluster.nodeName)'"))
    case .claim:
      return .claim
    case .nowhere:
      return .failure(AgentRuntimeError(code: .unknownAgentType, message: "no worker in the cluster serves agent type '\(id.type)'"))
    }
  }

  /// Holds `message` until `id` is claimed; true when it is the first (the claim is to be made).
  mutating func hold(_ message: HeldMessage, for id: AgentId) -> Bool {
    defer { awaitingPlacement[id, default: []].append(message) }
    return awaitingPlacement[id] == nil
  }
}

extension HostRouter {
  // MARK: Cluster

  /// Makes this router one node of the cluster `directory` describes (before any worker connects).
  func joinCluster(_ directory: any NodeDirectory) {
    state.withLock { state in
      state.cluster = ClusterRoutes(nodeName: directory.nodeName)
      state.directory = directory
    }
  }

  /// Takes the directory's latest cache.
  func updateCluster(_ cache: DirectoryCache) {
    state.withLock { $0.cluster?.update(cache) }
    notifyWatchers()
  }

  /// What the cluster's routes are now (for status and tests).
  var clusterRoutes: ClusterRoutes? { state.withLock { $0.cluster } }

  /// The nodes this node has a link to.
  var linkedPeers: Set<String> { state.withLock { Set($0.peers.keys) } }

  /// Opens this node's link to the peer `node`: a channel whose frames go to that node and whose
  /// frames from it are routed here as the peer's. It replaces an earlier link to the same node.
  func connectPeer(node: String) throws(RPCError) -> WorkerLink {
    let link = try connect(clientId: "peer:\(node):\(UUID().uuidString.prefix(8))", peerNode: node)
    state.withLock { $0.peers[node] = link }
    notifyWatchers()
    return link
  }

  /// The copies of an event on `topic` across the cluster: for this node's workers, one per other
  /// node with recipients (naming its types), and none yet for instances being claimed (held).
  func clusterCopies(_ state: inout State, of event: RawCloudEvent, topic: TopicId, from link: WorkerLink) -> [EventCopy] {
    guard let cluster = state.cluster else { return [] }
    let matching = state.subscriptions.agentTypes(matching: topic)
    let types: [AgentType]
    if link.peerNode != nil {
      // A peer node decided which of its subscribers' types this node holds.
      let listed = event.stringAttributes([CloudEventAttribute.nodeTypes])[CloudEventAttribute.nodeTypes] ?? ""
      types = listed.split(separator: ",").compactMap { try? AgentType(String($0)) }
    } else {
      let remote = cluster.remoteTypes(matching: topic)
      types = remote.isEmpty ? matching : Array(Set(matching).union(remote)).sorted()
    }
    var local: [AgentType] = []
    var byNode: [String: [AgentType]] = [:]
    for type in types {
      let id = AgentId(type: type, key: topic.source)
      switch state.resolve(id, fromPeer: link.peerNode != nil) {
      case .worker(let worker):
        if let node = worker.peerNode { byNode[node, default: []].append(type) } else { local.append(type) }
      case .claim:
        if state.hold(.event(event, topic: topic, type: type), for: id) { claimRequest.yield(id) }
      case .failure(let error):
        logger.debug("event not delivered to an instance", metadata: ["instance": "\(id)", "error": "\(error.message)"])
      }
    }
    var copies = local.isEmpty ? [] : state.localCopies(to: local, source: topic.source, topic: topic, matching: matching)
    if link.peerNode == nil {
      // Nodes whose gateways have topic readers get every publish, for them (none to deliver).
      for node in cluster.watchingNodes where byNode[node] == nil { byNode[node] = [] }
    }
    for (node, types) in byNode.sorted(by: { $0.key < $1.key }) {
      guard let peer = state.peers[node] else { continue }
      copies.append(EventCopy(link: peer, recipients: .nodeTypes(types)))
    }
    return copies
  }

  /// The directory's answer to the claim of `id`: `owner` holds it (or the claim failed), and the
  /// messages held for it go on (or get an error).
  func claimed(_ id: AgentId, _ result: Result<String, AgentRuntimeError>) {
    // The directory's cache has the answer (see `NodeDirectory.claim`).
    let held = state.withLock { $0.awaitingPlacement.removeValue(forKey: id) ?? [] }
    switch result {
    case .success(let owner):
      logger.debug("instance placed", metadata: ["instance": "\(id)", "node": "\(owner)", "held": "\(held.count)"])
      for message in held {
        switch message {
        case .request(let request, let target, let caller, let span):
          dispatch(request, target: target, from: caller, span: span)
        case .event(let event, let topic, let type):
          let copies = state.withLock { state -> [EventCopy] in
            switch state.resolve(AgentId(type: type, key: topic.source), fromPeer: true) {
            case .worker(let worker) where worker.peerNode != nil:
              return [EventCopy(link: worker, recipients: .nodeTypes([type]))]
            case .worker:
              let matching = state.subscriptions.agentTypes(matching: topic)
              return state.localCopies(to: [type], source: topic.source, topic: topic, matching: matching)
            case .claim, .failure:
              return []
            }
          }
          metrics.eventDeliveries.increment(by: Int64(copies.count))
          send(copies, of: event)
        }
      }
    case .failure(let error):
      logger.warning("cannot place an instance", metadata: ["instance": "\(id)", "error": "\(error.message)", "held": "\(held.count)"])
      fail(held, error)
    }
  }

  /// Answers the held requests with `error`; held events are dropped (nobody waits for them).
  func fail(_ held: [HeldMessage], _ error: AgentRuntimeError) {
    var dropped = 0
    for message in held {
      switch message {
      case .request(let request, let target, let caller, let span):
        metrics.rpcsFailed.increment()
        caller.outbound.append(.errorResponse(
          requestId: request.requestId, "cannot place \(target): \(error.message)", code: error.code))
        Self.endRouteSpan(span, error: error)
      case .event:
        dropped += 1
      }
    }
    if dropped > 0 { metrics.eventsUndelivered.increment(by: Int64(dropped)) }
  }
}
