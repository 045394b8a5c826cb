package import AgentCore
import SwiftProtobuf

extension Agents_Subscription {
  /// The wire form of `subscription`.
  package init(_ subscription: Subscription) {
    self.init()
    self.id = subscription.id
    switch subscription.filter {
    case .type(let topicType):
      self.typeSubscription = .with {
        $0.topicType = topicType
        $0.agentType = subscription.agentType.name
      }
    case .typePrefix(let prefix):
      self.typePrefixSubscription = .with {
        $0.topicTypePrefix = prefix
        $0.agentType = subscription.agentType.name
      }
    }
  }
}

extension Subscription {
  /// Converts a wire subscription, validating it.
  ///
  /// - Throws: ``AgentRuntimeError/Code/invalidArgument`` when no kind is set, the id is empty,
  ///   or the agent type or topic type is invalid.
  package init(wire: Agents_Subscription) throws(AgentRuntimeError) {
    guard !wire.id.isEmpty else {
      throw AgentRuntimeError(code: .invalidArgument, message: "subscription has an empty id")
    }
    switch wire.subscription {
    case .typeSubscription(let type):
      try self.init(id: wire.id, filter: .type(type.topicType), agentType: AgentType(type.agentType))
    case .typePrefixSubscription(let prefix):
      try self.init(
        id: wire.id,
        filter: .typePrefix(prefix.topicTypePrefix),
        agentType: AgentType(prefix.agentType)
      )
    case nil:
      throw AgentRuntimeError(
        code: .invalidArgument,
        message: "subscription '\(wire.id)' has neither typeSubscription nor typePrefixSubscription set"
      )
    }
  }
}
