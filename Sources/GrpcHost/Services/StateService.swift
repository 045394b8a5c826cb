import AgentCore
import AgentWire
import Foundation
import GRPCCore
import Logging
import SwiftProtobuf

/// `agents.state.v1.AgentStateStore`: the host's state store, served to its workers so that they
/// never hold the store's credentials. A worker may load and save the state of the agent types it
/// has registered, no others; every call is bounded in time, size-checked and measured.
struct StateService: Agents_State_V1_AgentStateStore.ServiceProtocol {
  let settings: StateSettings
  let router: HostRouter
  let metrics: HostMetrics
  let logger: Logger

  func load(
    request: ServerRequest<Agents_State_V1_LoadRequest>, context: ServerContext
  ) async throws -> ServerResponse<Agents_State_V1_LoadResponse> {
    let id = try agentId(request.message.agentType, request.message.agentKey, caller: request.metadata)
    let store = settings.store
    let stored = try await measured(.load, id) { () async throws(AgentRuntimeError) in
      try await settings.call("load", of: id) { try await store.load(id) }
    }
    return ServerResponse(message: .with {
      guard let stored else { return }
      $0.found = true
      $0.data = stored.data
      $0.version = stored.version
    })
  }

  func save(
    request: ServerRequest<Agents_State_V1_SaveRequest>, context: ServerContext
  ) async throws -> ServerResponse<Agents_State_V1_SaveResponse> {
    let id = try agentId(request.message.agentType, request.message.agentKey, caller: request.metadata)
    let (store, data, expected) = (settings.store, request.message.data, request.message.expectedVersion)
    let version = try await measured(.save, id) { () async throws(AgentRuntimeError) in
      try settings.checkSize(data.count, of: id)
      return try await settings.call("save", of: id) { try await store.save(id, data: data, expectedVersion: expected) }
    }
    return ServerResponse(message: .with { $0.version = version })
  }

  /// The request's agent id, once the caller is known to serve its type.
  private func agentId(_ type: String, _ key: String, caller metadata: Metadata) throws -> AgentId {
    let id: AgentId
    do {
      id = try AgentId(type: type, key: key)
    } catch {
      throw RPCError(error)
    }
    let clientId = metadata[stringValues: AgentRpcMetadata.clientIdKey].first(where: { _ in true }) ?? ""
    guard router.serves(id.type, clientId: clientId) else {
      logger.info("state call refused: the caller does not serve the type", metadata: ["agent": "\(id)", "client-id": "\(clientId)"])
      throw RPCError(
        code: .permissionDenied,
        message: clientId.isEmpty
          ? "missing '\(AgentRpcMetadata.clientIdKey)' metadata: only a worker that serves '\(id.type)' may use its agents' state"
          : "the worker '\(clientId)' does not serve '\(id.type)': only a worker that registered a type may use its agents' state")
    }
    return id
  }

  /// Runs one store operation, recording its latency and outcome; errors become gRPC statuses.
  private func measured<T: Sendable>(
    _ operation: HostMetrics.StateOperation, _ id: AgentId, _ body: () async throws(AgentRuntimeError) -> T
  ) async throws -> T {
    let start = ContinuousClock.now
    do {
      let result = try await body()
      metrics.stateCall(operation, outcome: .ok, duration: .now - start)
      return result
    } catch {
      let outcome: HostMetrics.StateOutcome = switch error.code {
      case .stateConflict: .conflict
      case .resourceExhausted: .refused
      case .unavailable: .unavailable
      default: .failed
      }
      metrics.stateCall(operation, outcome: outcome, duration: .now - start)
      if outcome != .conflict && outcome != .refused {
        logger.warning("state store call failed", metadata: ["operation": "\(operation)", "agent": "\(id)", "error": "\(error.message)"])
      }
      throw RPCError(error)
    }
  }
}
