import AgentCore
import AgentWire
import Foundation
import Logging
import Synchronization

extension GrpcWorkerRuntime {
  /// Where a handler serving a streamed request sends its chunks: published, in order, to the
  /// request's chunk topic, which the host forwards to the caller (see `StreamedCallWire`).
  func chunkSink(forRequest requestId: String, from agent: AgentId) -> ChunkSink {
    let topicType = StreamedCallWire.topicType(requestId: requestId)
    return ChunkSink { [self] chunk, sequence in
      let topic = try TopicId(type: topicType, source: String(sequence))
      // Not a traced publish: a chunk is an event on the handler's span (`MessageContext.stream`).
      try self.sendEvent(try self.event(chunk, to: topic, options: PublishOptions(sender: agent)), to: topic)
    }
  }

  /// A chunk of one of this worker's streamed calls.
  func handleChunk(_ wire: Io_Cloudevents_V1_CloudEvent, requestId: String) {
    guard let onChunk = pending.withLock({ $0.chunkHandlers[requestId] }) else {
      logger.debug("chunk for an unknown or finished call dropped", metadata: ["request-id": "\(requestId)"])
      return
    }
    do {
      let event = try PublishedEvent(wire: wire)
      onChunk(try deserialize(event.payload), UInt64(event.topic.source) ?? 0)
    } catch {
      logger.warning("chunk dropped", metadata: ["request-id": "\(requestId)", "error": "\(error)"])
    }
  }

  /// The host says the caller of `requestId` has gone: cancel its handler.
  func handleCancel(requestId: String) {
    guard let reply = pending.withLock({ $0.incoming[requestId] }) else { return }
    logger.debug("caller gone: handler cancelled", metadata: ["request-id": "\(requestId)"])
    reply.resolve(.failure(AgentRuntimeError(code: .cancelled, message: "the caller of request '\(requestId)' has gone")))
  }
}
