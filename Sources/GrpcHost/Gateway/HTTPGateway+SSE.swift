import AgentCore
import AgentWire
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import Tracing

/// The gateway's Server-Sent Events routes: streamed calls and the topic tap.
extension HTTPGateway {
  /// `Accept: text/event-stream`: `event: chunk` per partial result, then one `event: result` or
  /// `event: error`. The body is read once the stream has started, so a body that is not JSON is
  /// reported as the stream's `event: error` (code `invalid-argument`). A client that disconnects
  /// cancels the call, and its handler.
  func streamingInvoke(_ request: Request, target: AgentId, typeName: String?, timeout: Duration?) -> Response {
    let gateway = self.gateway
    // The body runs after the route returns: bind the trace context again there.
    let trace = ForwardedTrace.headers
    let span = ServiceContext.current
    var headers = Self.eventStreamHeaders
    headers[.connection] = "close"  // watching for the client's disconnect uses up the connection
    return Response(
      status: .ok, headers: headers,
      body: ResponseBody { writer in
        let (frames, sink) = AsyncStream.makeStream(of: ByteBuffer.self)
        do {
          try await request.body.consumeWithCancellationOnInboundClose { body in
            try await withThrowingTaskGroup(of: Void.self) { group in
              group.addTask {
                defer { sink.finish() }
                do {
                  let payload = try GatewayJSON.payload(
                    json: Data(try await body.collect(upTo: gateway.maxMessageSize).readableBytesView), typeName: typeName)
                  let answer = try await ServiceContext.withValue(span ?? .topLevel) {
                    try await ForwardedTrace.$headers.withValue(trace) {
                      try await gateway.invoke(payload, to: target, timeout: timeout) { chunk in
                        sink.yield(SSE.frame(event: "chunk", id: chunk.topic.source, data: GatewayJSON.encode(GatewayJSON.envelope(chunk.payload))))
                      }
                    }
                  }
                  let result = answer.map { GatewayJSON.encode(GatewayJSON.envelope($0)) } ?? Data("null".utf8)
                  sink.yield(SSE.frame(event: "result", data: result))
                } catch is CancellationError {
                  // The client went away; nobody reads what would be written.
                } catch {
                  sink.yield(SSE.frame(event: "error", data: Self.errorBody(error)))
                }
              }
              for await frame in frames { try await writer.write(frame) }
              try await group.waitForAll()
            }
          }
        } catch is CancellationError {
          return  // the client disconnected: the call (and its handler) was cancelled
        }
        try await writer.finish(nil)
      })
  }

  /// A live SSE stream of the publishes matching the topic filter (see ``EventTap``).
  func tail(_ request: Request, _ context: GatewayRequestContext) async throws -> Response {
    let topicType = try Self.parameter("type", context)
    let query = request.uri.queryParameters
    let isPrefix: Bool
    switch query["prefix"].map({ $0.lowercased() }) {
    case nil, "false", "0": isPrefix = false
    case "true", "1": isPrefix = true
    case let other?: throw AgentRuntimeError(code: .invalidArgument, message: "prefix '\(other)' is not true or false")
    }
    guard TopicId.isValidType(topicType) else {
      throw AgentRuntimeError(code: .invalidArgument, message: "'\(topicType)' is not a valid topic type\(isPrefix ? " prefix" : "")")
    }
    var after: UInt64?
    if let last = request.headers[Self.lastEventIDHeader], !last.isEmpty {  // empty means none (SSE)
      guard let sequence = UInt64(last) else {
        throw AgentRuntimeError(code: .invalidArgument, message: "Last-Event-ID '\(last)' is not a sequence number")
      }
      after = sequence
    }
    let filter = TapFilter(topicType: topicType, isPrefix: isPrefix, source: query["source"].map(String.init))
    try gateway.authorizeWatch(context.identity, filter)
    let reader = gateway.tap(filter, after: after)
    // A reload that revokes the caller's credentials, or its token's expiry, ends the stream
    // (registered before the response starts, so no revocation falls in between).
    let registration = await openStreams.open(context.caller) { reader.end($0) }
    let keepAliveInterval = self.keepAliveInterval
    let flushInterval = self.tapFlushInterval
    let readerBuffer = gateway.router.tap.readerBuffer
    var headers = Self.eventStreamHeaders
    headers[.connection] = "close"
    return Response(
      status: .ok, headers: headers,
      body: ResponseBody { writer in
        defer {
          reader.close()
          registration?.close()
        }
        // A tap's formatting and writes run on the cooperative pool, never on the event loops
        // that route messages: readers must not slow the bus.
        try await withTaskExecutorPreference(globalConcurrentExecutor) {
        do {
          try await writer.write(ByteBuffer(string: ": tap open\n\n"))
          try await request.body.consumeWithCancellationOnInboundClose { _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
              group.addTask {
                while true {
                  try await Task.sleep(for: keepAliveInterval)
                  reader.keepAlive()
                }
              }
              // Whatever has arrived goes out as one write, at most one write per flush interval:
              // a busy topic costs a write per batch, not per event. A writer stuck on a client
              // that does not read lets the reader's queue fill, and the tap drops the reader.
              while let items = await reader.next() {
                var buffer = ByteBufferAllocator().buffer(capacity: items.count * 320)
                for item in items {
                  switch item {
                  case .event(let tapped): buffer.writeBytes(Self.tapFrame(tapped))
                  case .keepAlive: buffer.writeString(": keepalive\n\n")
                  }
                }
                try await writer.write(buffer)
                if flushInterval > .zero { try await Task.sleep(for: flushInterval) }
              }
              group.cancelAll()
              try Task.checkCancellation()
            }
          }
        } catch is CancellationError {
          return  // the client disconnected
        }
        let final = reader.endReason ?? (reader.overflowed
          ? AgentRuntimeError(code: .resourceExhausted, message: "the reader fell more than \(readerBuffer) events behind and was dropped; reconnect with Last-Event-ID to resume")
          : AgentRuntimeError(code: .unavailable, message: "the host is shutting down"))
        try await writer.write(SSE.frame(event: "error", data: GatewayJSON.error(final)))
        try await writer.finish(nil)
        }
      })
  }

  // MARK: Helpers

  /// The SSE frame of a tapped event, rendered once for all its readers.
  static func tapFrame(_ tapped: TappedEvent) -> [UInt8] {
    tapped.rendered { renderTapFrame(tapped) }
  }

  /// `id:` the sequence, `event:` the topic type, `data:` the CloudEvent on one line.
  private static func renderTapFrame(_ tapped: TappedEvent) -> [UInt8] {
    let json: [UInt8]
    do {
      json = GatewayJSON.cloudEventBytes(try PublishedEvent(wire: try tapped.event.decoded()), sequence: tapped.sequence)
    } catch {
      let data = GatewayJSON.encode([
        "specversion": "1.0", "id": tapped.event.id, "source": tapped.event.source, "type": tapped.event.type,
        "sequence": String(tapped.sequence), "error": "\(error)",
      ])
      return Array(SSE.frame(event: tapped.event.type, id: String(tapped.sequence), data: data).readableBytesView)
    }
    var frame: [UInt8] = []
    frame.reserveCapacity(json.count + tapped.event.type.utf8.count + 40)
    frame.append(contentsOf: "id: \(tapped.sequence)\nevent: \(tapped.event.type)\ndata: ".utf8)
    frame.append(contentsOf: json)
    frame.append(contentsOf: "\n\n".utf8)
    return frame
  }

  static let eventStreamHeaders: HTTPFields = [
    .contentType: "text/event-stream", .cacheControl: "no-cache", HTTPField.Name("X-Accel-Buffering")!: "no",
  ]
}

/// Server-Sent Events framing.
enum SSE {
  static func frame(event: String, id: String? = nil, data: Data) -> ByteBuffer {
    var text = ""
    if let id { text += "id: \(id)\n" }
    text += "event: \(event)\n"
    // JSON has no raw newlines, but be safe: one data line per line.
    for line in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false) {
      text += "data: \(line)\n"
    }
    text += "\n"
    return ByteBuffer(string: text)
  }
}


