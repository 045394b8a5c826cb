/// How a streamed call travels over `agents.AgentRpc` without changing it.
///
/// 1. The caller sets `RpcRequest.metadata["agstream"] = "1"`.
/// 2. The callee publishes each chunk as an ordinary CloudEvent to the topic
///    `("agstream.<request id>", "<sequence number>")`, where the request id is the one the callee
///    received (AutoGen's Python handlers see it as `ctx.message_id`) and the sequence starts at 1.
///    The chunk's payload is any message, JSON or protobuf, like any publish.
/// 3. Our host forwards those events to the caller only (renaming the topic to the caller's own
///    request id), in the order the callee sent them, and drops any after the `RpcResponse`,
///    which ends the stream.
///
/// A callee that never streams, or a host that does not forward chunks (AutoGen's), leaves the
/// call an ordinary RPC: the caller gets the result only.
///
/// A caller that gives up sends its host the same notice with its own request id as source; our
/// host forwards it to the callee under the id the callee knows.
///
/// The host also tells a callee when its caller has gone (an HTTP client that disconnected, a
/// gateway deadline): it sends the callee a CloudEvent of type ``cancelEventType`` whose source is
/// the request id the callee received. Our worker cancels that handler; AutoGen's workers match no
/// subscription to it and ignore it.
package enum StreamedCallWire {
  /// `RpcRequest.metadata` key by which a caller asks for chunks.
  package static let requestKey = "agstream"
  /// Topic type prefix of chunk events.
  package static let topicPrefix = "agstream."
  /// CloudEvent type of a host's "the caller has gone" notice.
  package static let cancelEventType = "agcancel"

  /// The topic type of the chunks of request `requestId`.
  package static func topicType(requestId: String) -> String { topicPrefix + requestId }

  /// The request id of a chunk event's topic type, or nil when it is not one.
  package static func requestId(ofTopicType type: String) -> Substring? {
    type.hasPrefix(topicPrefix) ? type.dropFirst(topicPrefix.count) : nil
  }
}

extension Io_Cloudevents_V1_CloudEvent {
  /// The "caller has gone" notice for `requestId` (see ``StreamedCallWire``).
  package static func cancelNotice(requestId: String) -> Io_Cloudevents_V1_CloudEvent {
    var notice = Io_Cloudevents_V1_CloudEvent()
    notice.id = "cancel-\(requestId)"
    notice.source = requestId
    notice.specVersion = "1.0"
    notice.type = StreamedCallWire.cancelEventType
    return notice
  }
}
