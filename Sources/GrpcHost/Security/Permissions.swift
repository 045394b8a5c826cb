public import AgentCore

/// What an identity may do on the bus, as name patterns per action.
public struct Permissions: Sendable, Hashable {
  /// An action a permission allows.
  public enum Action: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Register (serve) an agent type, and subscribe its agents to topics.
    case serve
    /// Publish to a topic type.
    case publish
    /// Receive events on a topic type: subscriptions, delivery, and the gateway's topic streams.
    case watch
    /// Call (send RPCs to) an agent type.
    case call

    public var description: String { rawValue }
  }

  /// Agent types the identity may register.
  public var serve: [NamePattern]
  /// Topic types it may publish to.
  public var publish: [NamePattern]
  /// Topic types it may receive events on.
  public var watch: [NamePattern]
  /// Agent types it may call.
  public var call: [NamePattern]

  /// Everything, as one shared token allows.
  public static let all = Permissions(serve: [.any], publish: [.any], watch: [.any], call: [.any])

  /// Creates permissions; an action with no patterns is not allowed.
  public init(serve: [NamePattern] = [], publish: [NamePattern] = [], watch: [NamePattern] = [], call: [NamePattern] = []) {
    self.serve = serve
    self.publish = publish
    self.watch = watch
    self.call = call
  }

  /// The patterns of `action`.
  public func patterns(_ action: Action) -> [NamePattern] {
    switch action {
    case .serve: serve
    case .publish: publish
    case .watch: watch
    case .call: call
    }
  }

  /// Whether `action` is allowed on `name`.
  public func allows(_ action: Action, _ name: String) -> Bool {
    patterns(action).contains { $0.matches(name) }
  }

  /// Whether `action` is allowed on every name that starts with `prefix`.
  public func allows(_ action: Action, everyNameWithPrefix prefix: String) -> Bool {
    patterns(action).contains { $0.covers(prefix: prefix) }
  }
}

/// Who a caller is, once authenticated, and what it may do.
public struct Identity: Sendable, Hashable, CustomStringConvertible {
  /// The name audit lines and errors use.
  public var name: String
  /// What it may do.
  public var permissions: Permissions
  /// Whether it may do everything (the checks are skipped).
  let isAllAccess: Bool

  /// Creates an identity.
  public init(name: String, permissions: Permissions) {
    self.name = name
    self.permissions = permissions
    self.isAllAccess = Permissions.Action.allCases.allSatisfy { permissions.patterns($0).contains(.any) }
  }

  /// A caller of a host that requires no credentials.
  static let anonymous = Identity(name: "anonymous", permissions: .all)

  /// Whether `action` is allowed on `name`.
  func allows(_ action: Permissions.Action, _ name: String) -> Bool {
    isAllAccess || permissions.allows(action, name)
  }

  /// Whether `action` is allowed on every name that starts with `prefix`.
  func allows(_ action: Permissions.Action, everyNameWithPrefix prefix: String) -> Bool {
    isAllAccess || permissions.allows(action, everyNameWithPrefix: prefix)
  }

  /// Whether it may receive events on topic type `topicType`: those it may watch, and the
  /// direct-message topics (`T:…`) of the agent types T it may serve, to which AutoGen's workers
  /// subscribe each type they register.
  func mayReceive(_ topicType: String) -> Bool {
    if isAllAccess || permissions.allows(.watch, topicType) { return true }
    guard let colon = topicType.firstIndex(of: ":") else { return false }
    return permissions.allows(.serve, String(topicType[..<colon]))
  }

  /// The refusal of `action` on `target`.
  func denial(_ action: Permissions.Action, _ target: String) -> AgentRuntimeError {
    let what = switch action {
    case .serve: "serve agent type '\(target)'"
    case .publish: "publish to topic type '\(target)'"
    case .watch: "watch topic '\(target)'"
    case .call: "call agent type '\(target)'"
    }
    return AgentRuntimeError(code: .permissionDenied, message: "identity '\(name)' may not \(what)")
  }

  public var description: String { name }
}
