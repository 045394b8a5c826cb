package import AgentCore
import AgentWire

/// A call the gateway has sent and not yet seen answered (``Gateway/call(_:to:timeout:onChunk:)``).
///
/// Waiting costs no task and no timer of its own: at the host's RPC timeout the router's deadline
/// sweeper answers the call (as it does a worker's), and a caller that goes away ends it with
/// ``end(_:)``. Only a call with a shorter timeout than the host's keeps a timer.
package final class GatewayCall: Sendable {
  private let gateway: Gateway
  private let requestId: String
  private let target: AgentId
  private let timeout: Duration
  private let reply: OneShot<Agents_RpcResponse>

  init(gateway: Gateway, requestId: String, target: AgentId, timeout: Duration, reply: OneShot<Agents_RpcResponse>) {
    self.gateway = gateway
    self.requestId = requestId
    self.target = target
    self.timeout = timeout
    self.reply = reply
  }

  /// Ends the call with `error` unless its answer is in: ``answer()`` throws it, and the callee
  /// is told (a Swift handler is cancelled).
  package func end(_ error: AgentRuntimeError) {
    reply.resolve(.failure(error))
  }

  /// The agent's answer (nil when its handler returned nothing). Await it once.
  ///
  /// - Throws: ``AgentCore/AgentRuntimeError``: the agent's or the router's error,
  ///   `.deadlineExceeded`, what ``end(_:)`` was given, or `.cancelled` when the awaiting task is
  ///   cancelled.
  package func answer() async throws -> SerializedPayload? {
    let response: Agents_RpcResponse
    do {
      if timeout < gateway.maxTimeout {
        let (target, timeout, reply) = (self.target, self.timeout, self.reply)
        response = try await withDeadline(
          timeout,
          timeoutError: {
            AgentRuntimeError(code: .deadlineExceeded, message: "no response from \(target) within \(timeout.secondsDescription)")
          },
          cancelledError: { AgentRuntimeError(code: .cancelled, message: "the call to \(target) was cancelled by its caller") },
          { try await reply.value() }
        )
      } else {
        response = try await reply.value()
      }
    } catch is CancellationError {
      gateway.finish(requestId, answered: false)
      throw AgentRuntimeError(code: .cancelled, message: "the call to \(target) was cancelled by its caller")
    } catch {
      gateway.finish(requestId, answered: false)
      throw error
    }
    gateway.finish(requestId, answered: true)
    if let error = response.runtimeError { throw error }
    let answer = response.payload
    if answer.dataType.isEmpty && answer.data.isEmpty { return nil }
    return SerializedPayload(wire: answer)
  }
}
