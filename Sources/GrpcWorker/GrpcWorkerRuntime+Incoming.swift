import AgentCore
import AgentWire
import Foundation
import GRPCCore
import Logging
import SwiftProtobuf
import Synchronization

extension GrpcWorkerRuntime {
  // MARK: Incoming

  func handleIncoming(_ message: Agents_Message) {
    switch message.message {
    case .request(let request): handleRequest(request)
    case .response(let response): handleResponse(response)
    case .cloudEvent(let event): handleEvent(event)
    case nil: logger.warning("message with no case set ignored")
    }
  }

  private func respond(to requestId: String, with result: Result<(any Sendable)?, any Error>) {
    var response: Agents_RpcResponse
    switch result {
    case .success(nil):
      // An explicitly present, empty payload: "returned nothing", which a response with neither a
      // payload nor an error (AutoGen's answer for a cancelled handler) must not be taken for.
      response = Agents_RpcResponse()
      response.requestID = requestId
      response.payload = Agents_Payload()
    case .success(let value?):
      do {
        let payload = try serialize(value)
        try checkSize(payload, "the response to request '\(requestId)'")
        response = Agents_RpcResponse()
        response.requestID = requestId
        response.payload = Agents_Payload(payload)
      } catch {
        response = Agents_RpcResponse(requestId: requestId, error: error)
      }
    case .failure(let error):
      response = Agents_RpcResponse(requestId: requestId, error: AgentRuntimeError.wrappingHandlerError(error))
    }
    // Without a connection there is nobody to answer: the host has already failed the caller.
    if !enqueue(.with { $0.response = response }) {
      logger.debug("response dropped: not connected", metadata: ["request-id": "\(requestId)"])
    }
  }

  private func handleRequest(_ request: Agents_RpcRequest) {
    let requestId = request.requestID
    let target: AgentId
    do {
      guard request.hasTarget else {
        throw AgentRuntimeError(code: .invalidArgument, message: "RpcRequest '\(requestId)' has no target")
      }
      target = try AgentId(wire: request.target)
    } catch {
      return respond(to: requestId, with: .failure(error))
    }
    let message: any Sendable
    do {
      let payload = SerializedPayload(wire: request.payload)
      guard payload.data.count <= configuration.maxMessageSize else {
        throw AgentRuntimeError(
          code: .resourceExhausted,
          message: "the request to \(target) is \(payload.data.count) bytes, over the receiving worker's limit of \(configuration.maxMessageSize) bytes")
      }
      message = try deserialize(payload)
    } catch {
      return respond(to: requestId, with: .failure(error))
    }
    var context = MessageContext(
      recipient: target,
      sender: request.hasSource ? try? AgentId(wire: request.source) : nil,
      topic: nil,
      isRPC: true,
      messageId: requestId
    )
    let chunks = request.metadata[StreamedCallWire.requestKey] != nil ? chunkSink(forRequest: requestId, from: target) : nil
    context.chunkSink = chunks
    let reply = OneShot<(any Sendable)?>()
    pending.withLock { $0.incoming[requestId] = reply }
    reply.onResolve { result in
      chunks?.close()
      _ = self.pending.withLock { $0.incoming.removeValue(forKey: requestId) }
      self.respond(to: requestId, with: result)
    }
    // A Swift caller says how long it waits; stop the handler then. (AutoGen's callers do not.)
    let deadline = RpcTimeout.duration(request.metadata[RpcTimeout.metadataKey]).map { ContinuousClock.now + $0 }
    do {
      try agents.deliver(
        LocalAgents.Envelope(
          message: message, context: context, reply: reply, deadline: deadline,
          trace: tracing.extract(from: request.metadata)),
        runtime: self)
    } catch {
      let refusal: AgentRuntimeError = error.code == .unknownAgentType
        ? AgentRuntimeError(code: .unknownAgentType, message: "agent type '\(target.type)' is not hosted by this worker")
        : error
      reply.resolve(.failure(refusal))
    }
  }

  private func handleResponse(_ response: Agents_RpcResponse) {
    let reply = pending.withLock { pending in
      pending.chunkHandlers[response.requestID] = nil  // no chunk after the result
      return pending.replies.removeValue(forKey: response.requestID)
    }
    guard let reply else {
      logger.debug("response for an unknown or expired request dropped", metadata: ["request-id": "\(response.requestID)"])
      return
    }
    if let error = response.runtimeError {
      reply.resolve(.failure(error))
      return
    }
    guard response.hasPayload else {
      // Another host forwarded AutoGen's answer for a cancelled handler as it is.
      reply.resolve(.failure(AgentRuntimeError(
        code: .handlerFailed, message: "the agent answered with neither a result nor an error")))
      return
    }
    let payload = response.payload
    if payload.dataType.isEmpty && payload.data.isEmpty {
      reply.resolve(.success(nil))
      return
    }
    do {
      reply.resolve(.success(try deserialize(SerializedPayload(wire: payload))))
    } catch {
      reply.resolve(.failure(error))
    }
  }

  private func handleEvent(_ wire: Io_Cloudevents_V1_CloudEvent) {
    if let requestId = StreamedCallWire.requestId(ofTopicType: wire.type) {
      return handleChunk(wire, requestId: String(requestId))
    }
    if wire.type == StreamedCallWire.cancelEventType {
      return handleCancel(requestId: wire.source)
    }
    let event: PublishedEvent
    let message: any Sendable
    do {
      event = try PublishedEvent(wire: wire)
      guard [ContentType.json, ContentType.protobuf].contains(event.payload.contentType) else {
        throw AgentRuntimeError(
          code: .invalidArgument, message: "unsupported content type '\(event.payload.contentType)'")
      }
      message = try deserialize(event.payload)
    } catch {
      logger.warning("published message dropped", metadata: ["event-id": "\(wire.id)", "error": "\(error)"])
      return
    }
    var recipients = subscriptionSet.withLock { $0.recipients(for: event.topic) }
    if let hint = event.recipientTypes {
      recipients.removeAll { !hint.contains($0.type) }
    }
    // The publisher's trace context, which each handler's span continues.
    let trace = tracing.extract(from: wire.attributes.compactMapValues { value in
      if case .ceString(let text)? = value.attr { text } else { nil }
    })
    for recipient in recipients where recipient != event.sender && agents.isRegistered(recipient.type) {
      let context = MessageContext(
        recipient: recipient, sender: event.sender, topic: event.topic, isRPC: false, messageId: event.messageId)
      do {
        try agents.deliver(LocalAgents.Envelope(message: message, context: context, reply: nil, trace: trace), runtime: self)
      } catch {
        logger.warning("published message not delivered", metadata: ["recipient": "\(recipient)", "error": "\(error)"])
      }
    }
  }
}
