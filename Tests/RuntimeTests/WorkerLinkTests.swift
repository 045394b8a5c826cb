import AgentCore
import AgentWire
import GRPCCore
import GRPCInProcessTransport
@testable import GrpcWorker
import SwiftProtobuf
import Testing

/// The worker's link state machine, driven without a transport.
@Suite("Worker link state machine")
struct WorkerLinkTests {
  typealias Link = GrpcWorkerRuntime.Link
  let host = HostAddress(host: "127.0.0.1", port: 1)

  func live(_ id: String) -> GrpcWorkerRuntime.Live {
    let client = HostClient(
      clientId: id, client: GRPCClient(transport: InProcessTransport().client),
      authToken: nil, timeout: .seconds(1), linkFailure: { nil })
    return GrpcWorkerRuntime.Live(client: client, outbox: BatchQueue())
  }

  func publish(_ n: Int) -> Agents_Message { .with { $0.cloudEvent = .with { $0.id = "p\(n)" } } }
  func request(_ n: Int) -> Agents_Message { .with { $0.request = .with { $0.requestID = "r\(n)" } } }
  func ids(_ messages: [Agents_Message]) -> [String] {
    messages.map { message in
      switch message.message {
      case .cloudEvent(let event): event.id
      case .request(let request): request.requestID
      default: "?"
      }
    }
  }

  @Test("publishes are buffered while connecting, up to the bound, and go first, in order, when a connection goes live")
  func bufferThenFlush() throws {
    var link = Link(maxBuffered: 2)
    try link.publish(publish(1), topicType: "news", host: host)
    try link.publish(publish(2), topicType: "news", host: host)
    do {
      try link.publish(publish(3), topicType: "news", host: host)
      Issue.record("a publish over the bound was buffered")
    } catch {
      #expect(error.code == .resourceExhausted)
    }
    #expect(!link.send(request(1)))  // nothing to send on

    let connection = live("c1")
    let (ready, flushed) = link.established(connection)
    #expect(flushed == 2)
    #expect(link.buffered.isEmpty)
    #expect(link.send(request(1)))
    try link.publish(publish(4), topicType: "news", host: host)
    #expect(ids(connection.outbox.close()) == ["p1", "p2", "r1", "p4"])
    #expect(try link.connection() === ready)
  }

  @Test("a lost connection puts back the publishes it never wrote, ahead of newer ones, and drops its requests")
  func requeue() throws {
    var link = Link(maxBuffered: 10)
    let first = link.established(live("c1")).ready
    let (requeued, stopping) = link.detached(unsent: [publish(1), request(1), publish(2)], wasEstablished: true)
    #expect(requeued == 2)
    #expect(!stopping)
    try link.publish(publish(3), topicType: "news", host: host)
    #expect(ids(link.buffered) == ["p1", "p2", "p3"])
    // Calls now wait for the next connection.
    #expect(try link.connection() !== first)
  }

  @Test("stopping fails waiters with the first failure, drops the buffer, and refuses later publishes")
  func stop() throws {
    var link = Link(maxBuffered: 10)
    try link.publish(publish(1), topicType: "news", host: host)
    let closing = link.beginClosing()
    #expect(!closing)  // nothing live to close
    let first = AgentRuntimeError(code: .unauthenticated, message: "refused")
    let (_, failure, dropped) = link.stop(first)
    #expect(failure.message == "refused")
    #expect(dropped == 1)
    let second = link.stop(AgentRuntimeError(code: .unavailable, message: "later"))
    #expect(second.failure.message == "refused")
    do {
      try link.publish(publish(2), topicType: "news", host: host)
      Issue.record("a publish after stop was accepted")
    } catch {
      #expect(error.message == "refused")
    }
    #expect(throws: AgentRuntimeError.self) { try link.connection() }
  }

  @Test("the host's refusals map to one set of codes")
  func refusals() {
    let cases: [(RPCError, AgentRuntimeError.Code)] = [
      (RPCError(code: .alreadyExists, message: "dup"), .alreadyExists),
      (RPCError(code: .invalidArgument, message: "Subscription x already exists"), .alreadyExists),  // AutoGen's host
      (RPCError(code: .invalidArgument, message: "bad id"), .invalidArgument),
      (RPCError(code: .permissionDenied, message: "no"), .permissionDenied),
      (RPCError(code: .aborted, message: "stale"), .stateConflict),
      (RPCError(code: .internalError, message: "boom"), .unavailable),
      // Our host names its code in a trailer.
      (RPCError(code: .internalError, message: "bad row", metadata: ["agerrorcode": "state-store-failed"]), .stateStoreFailed),
    ]
    for (error, code) in cases {
      let refusal = HostClient.refusal(error, of: "AddSubscription")
      #expect(refusal.code == code)
      #expect(refusal.message == "the host refused AddSubscription: \(error.message)")
    }
  }
}
