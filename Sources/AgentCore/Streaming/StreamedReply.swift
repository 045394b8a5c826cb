import Synchronization
import Tracing

/// One element of a streamed call: a partial result, or the final one.
///
/// A streamed call yields any number of ``chunk(_:)`` elements in the order the handler emitted
/// them, then exactly one ``result(_:)``, then ends; or it ends by throwing the call's error.
public enum StreamedReply<Result: Sendable>: Sendable {
  /// A partial result the handler emitted with ``MessageContext/stream(_:)``.
  case chunk(any Sendable)
  /// The handler's final answer.
  case result(Result)
}

/// Where a running handler's chunks go: the caller of a streamed call.
///
/// Runtimes create one per streamed request and put it in the handler's ``MessageContext``. Once
/// closed (the call ended with its result or an error), chunks are refused.
package final class ChunkSink: Sendable {
  private let emit: @Sendable (_ chunk: any Sendable, _ sequence: UInt64) async throws -> Void
  private let closed = Atomic<Bool>(false)
  private let sent = Atomic<UInt64>(0)

  /// - Parameter emit: sends a chunk with its sequence number (1, 2, …).
  package init(_ emit: @escaping @Sendable (_ chunk: any Sendable, _ sequence: UInt64) async throws -> Void) {
    self.emit = emit
  }

  /// Sends `chunk`, and returns its sequence number.
  @discardableResult
  package func send(_ chunk: any Sendable) async throws -> UInt64 {
    guard !closed.load(ordering: .acquiring) else {
      throw AgentRuntimeError(code: .cancelled, message: "the streamed call has already ended; the chunk was not sent")
    }
    let sequence = sent.add(1, ordering: .relaxed).newValue
    try await emit(chunk, sequence)
    return sequence
  }

  /// Refuses further chunks.
  package func close() { closed.store(true, ordering: .releasing) }
}

extension MessageContext {
  /// Whether the caller asked for a streamed answer: chunks sent with ``stream(_:)`` reach it.
  public var isStreaming: Bool { chunkSink != nil }

  /// Emits a partial result to the caller of this RPC, before the handler's final answer.
  ///
  /// Chunks reach the caller in the order they are emitted, and none after the handler returns.
  /// When the caller did not ask for a streamed answer (``isStreaming`` is false) the chunk is
  /// dropped, so a handler can stream unconditionally and still serve every caller.
  ///
  /// ```swift
  /// router.onRPC(Prompt.self) { agent, prompt, context in
  ///   for token in agent.generate(prompt) { try await context.stream(Token(text: token)) }
  ///   return Completion(text: agent.fullText)
  /// }
  /// ```
  ///
  /// - Throws: ``AgentRuntimeError/Code/cancelled`` when the call has ended, or what publishing
  ///   the chunk throws across processes (serialization, size limits, connection).
  public func stream(_ chunk: any Sendable) async throws {
    guard let chunkSink else { return }
    let sequence = try await chunkSink.send(chunk)
    MessageTracing.chunk(span, sequence: sequence, message: chunk)
  }
}

extension AgentRuntime {
  /// Sends a direct message and streams the answer: the handler's chunks as they are emitted, then
  /// its typed result.
  ///
  /// ```swift
  /// for try await element in runtime.stream(Prompt(text: "hi"), to: writer, returning: Completion.self) {
  ///   switch element {
  ///   case .chunk(let token as Token): print(token.text, terminator: "")
  ///   case .chunk: break
  ///   case .result(let completion): print("\n", completion.text)
  ///   }
  /// }
  /// ```
  ///
  /// The call runs while the stream is iterated; a consumer that stops iterating (or whose task is
  /// cancelled) cancels the call, and the handler with it.
  ///
  /// - Throws (from iteration): what ``AgentRuntime/send(_:to:options:)`` throws, and
  ///   ``AgentRuntimeError/Code/unexpectedResponse`` when the result is not an `R`.
  public func stream<R: Sendable>(
    _ message: any Sendable,
    to recipient: AgentId,
    returning: R.Type = R.self,
    timeout: Duration? = nil
  ) -> AsyncThrowingStream<StreamedReply<R>, any Error> {
    let (stream, continuation) = AsyncThrowingStream.makeStream(of: StreamedReply<R>.self)
    // The call runs in a task owned by the stream: cancelled when the consumer goes away.
    let call = Task {
      do {
        let response = try await self.send(
          message, to: recipient, options: SendOptions(timeout: timeout),
          onChunk: { chunk in continuation.yield(.chunk(chunk)) })
        continuation.yield(.result(try Self.typed(response, from: recipient, as: R.self)))
        continuation.finish()
      } catch {
        continuation.finish(throwing: error)
      }
    }
    continuation.onTermination = { _ in call.cancel() }
    return stream
  }

  /// Sends a direct message and returns the typed result; `onChunk` sees each chunk the handler
  /// streams first, in order.
  public func send<R: Sendable>(
    _ message: any Sendable,
    to recipient: AgentId,
    returning: R.Type = R.self,
    timeout: Duration? = nil,
    onChunk: @escaping @Sendable (any Sendable) -> Void
  ) async throws -> R {
    let response = try await send(message, to: recipient, options: SendOptions(timeout: timeout), onChunk: onChunk)
    return try Self.typed(response, from: recipient, as: R.self)
  }

  static func typed<R>(_ response: (any Sendable)?, from recipient: AgentId, as: R.Type) throws -> R {
    if let typed = response as? R { return typed }
    if R.self == Void.self, response == nil { return () as! R }
    throw AgentRuntimeError(
      code: .unexpectedResponse,
      message: "\(recipient) answered with \(response.map { "\(type(of: $0))" } ?? "no response"), not \(R.self)"
    )
  }
}
