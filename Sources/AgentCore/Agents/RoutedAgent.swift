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

  /// Subscriptions every registration of this type gets, besides those given to
  /// ``AgentRuntime/register(_:subscriptions:factory:)`` (as AutoGen's `@type_subscription`
  /// decorator declares them on the class). The default is none.
  ///
  /// ```swift
  /// static let subscriptions: [TopicFilter] = [.type("audit.events")]
  /// ```
  static var subscriptions: [TopicFilter] { get }
}

extension RoutedAgent {
  public static var subscriptions: [TopicFilter] { [] }

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

/// What a runtime learns from an agent's Swift type when the type is registered: serializers for
/// its handlers' messages and the subscriptions it declares (both empty for an agent that is not a
/// ``RoutedAgent``).
package struct RegisteredAgentTraits: Sendable {
  package var serializers = SerializationRegistry()
  package var subscriptions: [TopicFilter] = []

  package init<A: Agent>(of agent: A.Type, subscriptions given: [TopicFilter]) {
    subscriptions = given
    if let routed = agent as? any RoutedAgent.Type {
      serializers = routed.routerSerializers
      subscriptions += routed.subscriptions.filter { !given.contains($0) }
    }
  }
}

extension RoutedAgent {
  fileprivate static var routerSerializers: SerializationRegistry { router.serializers }
}
