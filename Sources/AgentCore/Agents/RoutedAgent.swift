import Synchronization

/// An agent whose messages are routed to typed handlers by their Swift type.
///
/// Declare the handlers once in ``registerHandlers(_:)``; the router is built the first time an
/// agent of the type handles a message and is frozen after that.
///
/// ```swift
/// actor Assistant: RoutedAgent {
///   nonisolated let id: AgentId
///   var turns = 0
///
///   init(id: AgentId) { self.id = id }
///
///   static func registerHandlers(_ router: inout MessageRouter<Assistant>) {
///     router.on(ChatMessage.self) { agent, message, _ in
///       agent.turns += 1
///       return ChatReply(text: "turn \(agent.turns): \(message.text)")
///     }
///   }
/// }
/// ```
public protocol RoutedAgent: Agent {
  /// Registers this type's handlers. Called once per agent type.
  static func registerHandlers(_ router: inout MessageRouter<Self>)
}

extension RoutedAgent {
  /// The frozen router for this agent type.
  public static var router: MessageRouter<Self> { RouterCache.router(for: Self.self) }

  public func handle(_ message: any Sendable, context: MessageContext) async throws -> (any Sendable)? {
    try await Self.router.dispatch(message, context: context, to: self)
  }
}

/// Builds each RoutedAgent type's router once and keeps it.
private enum RouterCache {
  private static let routers = Mutex<[ObjectIdentifier: any Sendable]>([:])

  static func router<A: RoutedAgent>(for type: A.Type) -> MessageRouter<A> {
    let key = ObjectIdentifier(type)
    if let router = routers.withLock({ $0[key] }) as? MessageRouter<A> {
      return router
    }
    var router = MessageRouter<A>()
    A.registerHandlers(&router)
    return routers.withLock { routers in
      // Another task may have built it meanwhile; keep the first so every caller sees one router.
      if let existing = routers[key] as? MessageRouter<A> { return existing }
      routers[key] = router
      return router
    }
  }
}
