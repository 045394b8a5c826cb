import AgentCore
import AgentWire
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
@testable import GrpcHost
import Logging
import Synchronization
import SwiftProtobuf
import Testing

/// A worker speaking raw `agents.AgentRpc` through the generated stubs, for driving the host.
final class RawWorker: Sendable {
  let clientId: String
  let rpc: Agents_AgentRpc.Client<HTTP2ClientTransport.Posix>
  let hasChannel: Bool
  /// Sent as `authorization: Bearer <token>` when set.
  let token: String?
  private let outbound: AsyncStream<Agents_Message>.Continuation
  private let inbound: Inbox<Agents_Message>
  /// How the channel ended: the status it ended with (nil: OK), once.
  let channelEnd = Inbox<RPCError?>()
  /// The channel's response headers, once.
  let channelHeaders = Inbox<Metadata>()

  fileprivate init(
    clientId: String,
    rpc: Agents_AgentRpc.Client<HTTP2ClientTransport.Posix>,
    hasChannel: Bool,
    token: String?,
    outbound: AsyncStream<Agents_Message>.Continuation,
    inbound: Inbox<Agents_Message>
  ) {
    self.clientId = clientId
    self.rpc = rpc
    self.hasChannel = hasChannel
    self.token = token
    self.outbound = outbound
    self.inbound = inbound
  }

  var metadata: Metadata {
    var metadata: Metadata = ["client-id": .string(clientId)]
    if let token { metadata.addString("Bearer \(token)", forKey: "authorization") }
    return metadata
  }

  func send(_ message: Agents_Message) {
    outbound.yield(message)
  }

  /// The next message from the host; fails the test after `timeout`.
  func next(timeout: Duration = .seconds(10), sourceLocation: SourceLocation = #_sourceLocation) async throws -> Agents_Message {
    try await inbound.next(timeout: timeout, sourceLocation: sourceLocation)
  }

  func inboxNextOrEnd(timeout: Duration) async throws -> Agents_Message? {
    try await inbound.nextOrEnd(timeout: timeout)
  }


  /// Registers `type`; with an open channel, returns once the host routes to it.
  func register(_ type: String) async throws {
    _ = try await rpc.registerAgent(.with { $0.type = type }, metadata: metadata)
    if hasChannel { try await barrier() }
  }

  @discardableResult
  func subscribe(_ filter: TopicFilter, agentType: String, id: String = UUID().uuidString) async throws -> String {
    let subscription = try Subscription(id: id, filter: filter, agentType: AgentType(agentType))
    _ = try await rpc.addSubscription(.with { $0.subscription = Agents_Subscription(subscription) }, metadata: metadata)
    return id
  }

  /// Proves the host has this worker's channel and has handled everything sent before: an RPC to a
  /// type nobody serves is answered on this channel, after every earlier frame.
  func barrier() async throws {
    let id = "barrier-\(UUID().uuidString)"
    send(.request(id: id, target: try AgentId(type: "no.such.type", key: "x")))
    while true {
      let message = try await next()
      if case .response(let response)? = message.message, response.requestID == id { return }
      Issue.record("unexpected message before barrier: \(message)")
    }
  }

  func publish(_ topic: TopicId, text: String, id: String = UUID().uuidString, sender: AgentId? = nil) throws {
    let event = PublishedEvent(
      topic: topic, sender: sender, messageId: id,
      payload: SerializedPayload(typeName: "Text", contentType: ContentType.json, data: Data(#"{"text":"\#(text)"}"#.utf8)))
    send(.with { $0.cloudEvent = try! Io_Cloudevents_V1_CloudEvent(event) })
  }
}

extension Agents_Message {
  static func request(id: String, target: AgentId, text: String = "q") -> Agents_Message {
    .with {
      $0.request = .with {
        $0.requestID = id
        $0.target = Agents_AgentId(target)
        $0.payload = Agents_Payload(
          SerializedPayload(typeName: "Text", contentType: ContentType.json, data: Data(#"{"text":"\#(text)"}"#.utf8)))
      }
    }
  }

  static func response(to requestId: String, text: String) -> Agents_Message {
    .with {
      $0.response = .with {
        $0.requestID = requestId
        $0.payload = Agents_Payload(
          SerializedPayload(typeName: "Text", contentType: ContentType.json, data: Data(#"{"text":"\#(text)"}"#.utf8)))
      }
    }
  }

  var requestValue: Agents_RpcRequest? {
    if case .request(let request)? = message { return request }
    return nil
  }

  var responseValue: Agents_RpcResponse? {
    if case .response(let response)? = message { return response }
    return nil
  }

  var eventValue: Io_Cloudevents_V1_CloudEvent? {
    if case .cloudEvent(let event)? = message { return event }
    return nil
  }
}

extension Agents_RpcResponse {
  var text: String { String(decoding: payload.data, as: UTF8.self) }
}

/// An unbounded queue that tests take from with a timeout.
final class Inbox<Element: Sendable>: Sendable {
  private struct State {
    var buffer: [Element] = []
    var waiter: CheckedContinuation<Element?, Never>?
    var closed = false
  }

  private let state = Mutex(State())

  func put(_ element: Element) {
    let waiter = state.withLock { state -> CheckedContinuation<Element?, Never>? in
      if let waiter = state.waiter {
        state.waiter = nil
        return waiter
      }
      state.buffer.append(element)
      return nil
    }
    waiter?.resume(returning: element)
  }

  func close() {
    let waiter = state.withLock { state -> CheckedContinuation<Element?, Never>? in
      state.closed = true
      defer { state.waiter = nil }
      return state.waiter
    }
    waiter?.resume(returning: nil)
  }

  /// The next element, or nil when closed and empty.
  func nextOrEnd(timeout: Duration) async throws -> Element? {
    try await withThrowingTaskGroup(of: Element??.self) { group in
      group.addTask {
        await withTaskCancellationHandler {
          await withCheckedContinuation { continuation in
            let immediate: Element?? = self.state.withLock { state in
              if !state.buffer.isEmpty { return .some(state.buffer.removeFirst()) }
              if state.closed || Task.isCancelled { return .some(nil) }
              state.waiter = continuation
              return nil
            }
            if let immediate { continuation.resume(returning: immediate) }
          }
        } onCancel: {
          let waiter = self.state.withLock { state in
            defer { state.waiter = nil }
            return state.waiter
          }
          waiter?.resume(returning: nil)
        }
      }
      group.addTask {
        try await Task.sleep(for: timeout)
        return .none
      }
      let first = try await group.next()!
      group.cancelAll()
      guard let result = first else { throw TimeoutError(timeout: timeout) }
      return result
    }
  }

  func next(timeout: Duration, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Element {
    do {
      guard let element = try await nextOrEnd(timeout: timeout) else {
        Issue.record("the stream ended", sourceLocation: sourceLocation)
        throw TimeoutError(timeout: timeout)
      }
      return element
    } catch let error as TimeoutError {
      Issue.record("nothing arrived within \(timeout)", sourceLocation: sourceLocation)
      throw error
    }
  }
}

struct TimeoutError: Error {
  var timeout: Duration
}

/// Starts a host on a free loopback port for the duration of `body`.
func withTestHost<R: Sendable>(
  rpcTimeout: Duration = .seconds(30),
  authToken: String? = nil,
  maxMessageSize: Int = 4 * 1024 * 1024,
  eventLoopThreads: Int? = nil,
  configure: (inout AgentHost.Configuration) -> Void = { _ in },
  _ body: @Sendable (AgentHost, HostAddress) async throws -> R
) async throws -> R {
  var logger = Logger(label: "test.host")
  logger.logLevel = .error
  var configuration = AgentHost.Configuration(
    address: HostAddress(host: "127.0.0.1", port: 0), rpcTimeout: rpcTimeout, maxMessageSize: maxMessageSize,
    authToken: authToken)
  configuration.eventLoopThreads = eventLoopThreads
  configure(&configuration)
  return try await withAgentHost(
    configuration: configuration,
    logger: logger
  ) { host in
    try await body(host, try await host.listeningAddress())
  }
}

/// A gRPC client to `address` for the duration of `body`.
func withGRPCClient<R: Sendable>(
  _ address: HostAddress,
  _ body: @Sendable (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> R
) async throws -> R {
  let transport = try HTTP2ClientTransport.Posix(
    target: .ipv4(address: address.host, port: address.port), transportSecurity: .plaintext)
  let client = GRPCClient(transport: transport)
  return try await withThrowingTaskGroup(of: Void.self) { group in
    group.addTask { try await client.runConnections() }
    defer { client.beginGracefulShutdown() }
    return try await body(client)
  }
}

/// The generated `agents.AgentRpc` client to `address` for the duration of `body`.
func withClient<R: Sendable>(
  _ address: HostAddress,
  _ body: @Sendable (Agents_AgentRpc.Client<HTTP2ClientTransport.Posix>) async throws -> R
) async throws -> R {
  try await withGRPCClient(address) { client in try await body(Agents_AgentRpc.Client(wrapping: client)) }
}

/// A raw worker connected to `address` with an open channel for the duration of `body`; its channel
/// closes when `body` returns.
func withRawWorker<R: Sendable>(
  _ address: HostAddress,
  clientId: String = UUID().uuidString,
  openChannel: Bool = true,
  token: String? = nil,
  _ body: @Sendable (RawWorker) async throws -> R
) async throws -> R {
  try await withClient(address) { rpc in
    let (outboundStream, outbound) = AsyncStream<Agents_Message>.makeStream()
    let inbox = Inbox<Agents_Message>()
    let worker = RawWorker(
      clientId: clientId, rpc: rpc, hasChannel: openChannel, token: token, outbound: outbound, inbound: inbox)
    guard openChannel else { return try await body(worker) }
    return try await withThrowingTaskGroup(of: R?.self) { group in
      group.addTask {
        do {
          try await rpc.openChannel(metadata: worker.metadata) { writer in
            for await message in outboundStream { try await writer.write(message) }
          } onResponse: { response in
            if case .success(let contents) = response.accepted { worker.channelHeaders.put(contents.metadata) }
            for try await message in response.messages { inbox.put(message) }
          }
          worker.channelEnd.put(nil)
        } catch let error as RPCError {
          worker.channelEnd.put(error)
        } catch {
          worker.channelEnd.put(RPCError(code: .unknown, message: "\(error)"))
        }
        inbox.close()
        return nil
      }
      let result = try await body(worker)
      outbound.finish()
      group.cancelAll()
      return result
    }
  }
}
