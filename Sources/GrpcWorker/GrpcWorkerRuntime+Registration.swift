public import AgentCore
import Logging
import Synchronization

extension GrpcWorkerRuntime {
  // MARK: Registration and subscriptions

  public func register<A: Agent>(
    _ type: AgentType,
    subscriptions: [TopicFilter],
    factory: @escaping @Sendable (AgentId, any AgentRuntime) async throws -> A
  ) async throws {
    let classSubscriptions = try agents.register(type, subscriptions: subscriptions, factory: factory, serializers: registry)
    var added: [Subscription] = []
    do {
      let host = try await awaitConnection(within: configuration.defaultRPCTimeout)
      try await host.registerAgent(type)
      link.withLock { $0.registered(type) }
      for subscription in classSubscriptions + [Subscription.directMessages(for: type)] {
        try await addSubscription(subscription, via: host)
        added.append(subscription)
      }
      logger.info("agent type registered", metadata: ["type": "\(type)", "subscriptions": "\(added.count)"])
    } catch {
      // Leave nothing half-registered here. (The host keeps the type name until this worker
      // disconnects; requests for it are answered with an error.)
      for subscription in added {
        try? await removeSubscription(id: subscription.id)
      }
      link.withLock { $0.unregistered(type) }
      agents.unregister(type)
      throw error
    }
  }

  public func addSubscription(_ subscription: Subscription) async throws {
    try await addSubscription(subscription, via: try await awaitConnection(within: configuration.defaultRPCTimeout))
  }

  private func addSubscription(_ subscription: Subscription, via host: HostClient) async throws {
    try subscriptionSet.withLock { set throws(AgentRuntimeError) in try set.add(subscription) }
    do {
      try await host.addSubscription(subscription)
    } catch {
      _ = subscriptionSet.withLock { set in try? set.remove(id: subscription.id) }
      throw error
    }
  }

  public func removeSubscription(id: String) async throws {
    try await awaitConnection(within: configuration.defaultRPCTimeout).removeSubscription(id: id)
    _ = subscriptionSet.withLock { set in try? set.remove(id: id) }
  }

  /// This worker's subscriptions (the ones it matches incoming messages against).
  public var subscriptions: [Subscription] {
    subscriptionSet.withLock { $0.all }
  }

  // MARK: Local agents

  /// The agent instance with `id` on this worker, created if needed: for tests that look at an
  /// agent's state directly. (An instance placed on another worker is not reachable this way.)
  ///
  /// - Throws: `AgentRuntimeError/Code/unknownAgentType` when the type is not registered here,
  ///   and `AgentRuntimeError/Code/invalidArgument` when the instance is not an `A`.
  public func agent<A: Agent>(_ id: AgentId, as: A.Type = A.self) async throws -> A {
    let agent = try await agents.agent(for: id, runtime: self, timeout: configuration.defaultRPCTimeout)
    return try LocalAgents.typed(agent, id: id, as: A.self)
  }

  public func agentMetadata(_ id: AgentId) async throws -> AgentMetadata {
    try await localAgent(id).metadata
  }

  public func saveAgentState(_ id: AgentId) async throws -> AgentState {
    try await localAgent(id).saveState()
  }

  public func loadAgentState(_ id: AgentId, state: AgentState) async throws {
    try await localAgent(id).loadState(state)
  }

  /// Metadata and state are available for agents this worker hosts.
  private func localAgent(_ id: AgentId) async throws -> any Agent {
    guard agents.isRegistered(id.type) else {
      throw AgentRuntimeError(
        code: .unknownAgentType,
        message: "agent type '\(id.type)' is not hosted by this worker; metadata and state are local only")
    }
    return try await agents.agent(for: id, runtime: self, timeout: configuration.defaultRPCTimeout)
  }
}
