/// Which kinds of delivery a handler accepts.
public enum HandlerDelivery: Sendable, Hashable {
  /// Published messages and direct (RPC) messages.
  case any
  /// Published messages only.
  case eventsOnly
  /// Direct (RPC) messages only.
  case rpcOnly

  func accepts(isRPC: Bool) -> Bool {
    switch self {
    case .any: return true
    case .eventsOnly: return !isRPC
    case .rpcOnly: return isRPC
    }
  }
}

/// The typed message handlers of a ``RoutedAgent``, registered explicitly and then frozen.
///
/// Handlers are keyed by the message's Swift type. When several handlers are registered for one
/// type, they are tried in registration order; the first whose delivery kind and predicate accept
/// the message handles it.
///
/// ```swift
/// static func registerHandlers(_ router: inout MessageRouter<Assistant>) {
///   router.on(ChatMessage.self) { agent, message, context in
///     ChatReply(text: "you said \(message.text)")
///   }
///   router.onEvent(ChatMessage.self, where: { message, _ in message.text.isEmpty }) { _, _, _ in
///     // ignore empty chatter
///   }
/// }
/// ```
public struct MessageRouter<A: Agent>: Sendable {
  typealias Invoke = @Sendable (isolated A, any Sendable, MessageContext) async throws -> (any Sendable)?

  struct Route: Sendable {
    var delivery: HandlerDelivery
    var predicate: (@Sendable (any Sendable, MessageContext) -> Bool)?
    var invoke: Invoke
  }

  private var routes: [ObjectIdentifier: [Route]] = [:]
  private var typeNames: [ObjectIdentifier: String] = [:]

  /// Serializers for every handled message type and handler result type that serializes by
  /// itself (protobuf messages and `Codable` types); runtimes add them when the agent type is
  /// registered, so a ``SerializationRegistry`` is needed only for other types.
  public private(set) var serializers = SerializationRegistry()

  /// Creates an empty router.
  public init() {}

  /// The Swift message types with at least one handler.
  public var handledTypeNames: [String] { typeNames.values.sorted() }

  /// Registers a handler for `type` that may return a response.
  ///
  /// - Parameters:
  ///   - type: the message type.
  ///   - delivery: published messages, RPCs, or both (the default).
  ///   - predicate: an optional extra condition; when it returns false the next handler is tried.
  ///   - handler: runs on the agent's actor; its result is the RPC response (a `Void` result
  ///     answers with an empty response).
  public mutating func on<M: Sendable, R: Sendable>(
    _ type: M.Type,
    delivery: HandlerDelivery = .any,
    where predicate: (@Sendable (M, MessageContext) -> Bool)? = nil,
    _ handler: @escaping @Sendable (isolated A, M, MessageContext) async throws -> R
  ) {
    let key = ObjectIdentifier(M.self)
    typeNames[key] = String(describing: M.self)
    serializers.registerIfSerializable(M.self)
    if R.self != Void.self { serializers.registerIfSerializable(R.self) }
    var erasedPredicate: (@Sendable (any Sendable, MessageContext) -> Bool)? = nil
    if let predicate {
      erasedPredicate = { message, context in predicate(message as! M, context) }
    }
    let invoke: Invoke = { agent, message, context in
      let result = try await handler(agent, message as! M, context)
      if R.self == Void.self { return nil }
      return result
    }
    let route = Route(delivery: delivery, predicate: erasedPredicate, invoke: invoke)
    routes[key, default: []].append(route)
  }

  /// Registers a handler for published messages of `type` only.
  public mutating func onEvent<M: Sendable>(
    _ type: M.Type,
    where predicate: (@Sendable (M, MessageContext) -> Bool)? = nil,
    _ handler: @escaping @Sendable (isolated A, M, MessageContext) async throws -> Void
  ) {
    on(type, delivery: .eventsOnly, where: predicate, handler)
  }

  /// Registers a handler for direct (RPC) messages of `type` only.
  public mutating func onRPC<M: Sendable, R: Sendable>(
    _ type: M.Type,
    where predicate: (@Sendable (M, MessageContext) -> Bool)? = nil,
    _ handler: @escaping @Sendable (isolated A, M, MessageContext) async throws -> R
  ) {
    on(type, delivery: .rpcOnly, where: predicate, handler)
  }

  /// Dispatches `message` to the first handler that accepts it.
  ///
  /// - Throws: ``AgentRuntimeError/Code/unhandledMessage`` when no handler accepts it, or what
  ///   the handler throws.
  public func dispatch(
    _ message: any Sendable,
    context: MessageContext,
    to agent: isolated A
  ) async throws -> (any Sendable)? {
    let candidates = routes[ObjectIdentifier(type(of: message))] ?? []
    for route in candidates where route.delivery.accepts(isRPC: context.isRPC) {
      if let predicate = route.predicate, !predicate(message, context) { continue }
      return try await route.invoke(agent, message, context)
    }
    let kind = context.isRPC ? "direct message" : "published message"
    let detail = candidates.isEmpty
      ? "no handler for \(type(of: message))"
      : "no handler for \(type(of: message)) accepts this \(kind)"
    throw AgentRuntimeError(
      code: .unhandledMessage,
      message: "agent \(context.recipient) has \(detail)"
        + (message is UnknownPayload ? " (\(message))" : "")
    )
  }
}
