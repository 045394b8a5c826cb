import AgentCore
import AgentWire
import Foundation
import GRPCCore
@testable import GrpcHost
import SwiftProtobuf
import Testing

/// Message-size limits: an oversized frame is answered, and the sender's stream carries on.
@Suite("Host: message size limits", .timeLimit(.minutes(1)))
struct HostLimitsTests {
  static let limit = 64 * 1024

  static func big(_ bytes: Int) -> String { String(repeating: "x", count: bytes) }

  @Test("an oversized request gets RESOURCE_EXHAUSTED back; the sender's later messages still route")
  func oversizedRequest() async throws {
    try await withTestHost(maxMessageSize: Self.limit) { _, address in
      try await withRawWorker(address) { callee in
        try await callee.register("svc")
        try await withRawWorker(address) { caller in
          let target = try AgentId(type: "svc", key: "k")
          caller.send(.request(id: "huge", target: target, text: Self.big(100 * 1024)))
          let refused = try #require(try await caller.next().responseValue)
          #expect(refused.requestID == "huge")
          #expect(refused.runtimeError?.code == .resourceExhausted)
          #expect(refused.error.contains("over the host's limit of 65536 bytes"), "\(refused.error)")

          caller.send(.request(id: "small", target: target, text: "fine"))
          let request = try #require(try await callee.next().requestValue)
          callee.send(.response(to: request.requestID, text: "ok"))
          let answer = try #require(try await caller.next().responseValue)
          #expect(answer.requestID == "small" && answer.error.isEmpty)
        }
      }
    }
  }

  @Test("an oversized response becomes an error for its caller; the callee keeps serving")
  func oversizedResponse() async throws {
    try await withTestHost(maxMessageSize: Self.limit) { _, address in
      try await withRawWorker(address) { callee in
        try await callee.register("svc")
        try await withRawWorker(address) { caller in
          let target = try AgentId(type: "svc", key: "k")
          caller.send(.request(id: "1", target: target))
          let first = try #require(try await callee.next().requestValue)
          callee.send(.response(to: first.requestID, text: Self.big(100 * 1024)))
          let refused = try #require(try await caller.next().responseValue)
          #expect(refused.requestID == "1" && refused.runtimeError?.code == .resourceExhausted)
          #expect(refused.error.contains("the response from svc/k was refused"), "\(refused.error)")

          caller.send(.request(id: "2", target: target))
          let second = try #require(try await callee.next().requestValue)
          callee.send(.response(to: second.requestID, text: "small"))
          let answer = try #require(try await caller.next().responseValue)
          #expect(answer.requestID == "2" && answer.error.isEmpty)
        }
      }
    }
  }

  @Test("an oversized event is dropped; the publisher's next event is delivered")
  func oversizedEvent() async throws {
    try await withTestHost(maxMessageSize: Self.limit) { _, address in
      try await withRawWorker(address) { subscriber in
        try await subscriber.register("sub")
        try await subscriber.subscribe(.type("news"), agentType: "sub")
        try await withRawWorker(address) { publisher in
          try publisher.publish(TopicId(type: "news", source: "s"), text: Self.big(100 * 1024), id: "huge")
          try publisher.publish(TopicId(type: "news", source: "s"), text: "small", id: "small")
          let event = try #require(try await subscriber.next().eventValue)
          #expect(event.id == "small")
        }
      }
    }
  }

  @Test("a frame over the transport limit (twice the host's) ends that stream only; others carry on")
  func overTransportLimit() async throws {
    try await withTestHost(maxMessageSize: Self.limit) { host, address in
      try await withRawWorker(address) { other in
        try await other.register("svc")
        let status: RPCError? = try await withClient(address) { rpc in
          do {
            try await rpc.openChannel(metadata: ["client-id": "too-big"]) { writer in
              try await writer.write(.request(id: "x", target: try AgentId(type: "svc", key: "k"), text: Self.big(3 * Self.limit)))
            } onResponse: { response in
              for try await _ in response.messages {}
            }
            return nil
          } catch let error as RPCError {
            return error
          }
        }
        // grpc-swift's transport resets the stream (RST_STREAM) rather than sending a status.
        #expect(status != nil)
        try await other.barrier()
        #expect(
          await host.router.waitUntil(timeout: .seconds(10)) { $0.pendingRPCs == 0 && !$0.connectedClients.contains("too-big") },
          "\(host.router.snapshot)")
      }
    }
  }
}
