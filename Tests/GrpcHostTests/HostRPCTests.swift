import AgentCore
import AgentWire
import Foundation
import GRPCCore
@testable import GrpcHost
import SwiftProtobuf
import Testing

@Suite("Host: RPC sessions never hang", .timeLimit(.minutes(1)))
struct HostRPCTests {
  @Test(
    "two callers using the same request id at once each get their own response",
    arguments: [nil, 1] as [Int?])  // the shared event loop group, and one loop of the host's own
  func sameRequestId(eventLoopThreads: Int?) async throws {
    try await withTestHost(eventLoopThreads: eventLoopThreads) { _, address in
      try await withRawWorker(address) { callee in
        try await callee.register("svc")
        try await withRawWorker(address) { a in
          try await withRawWorker(address) { b in
            a.send(.request(id: "1", target: try AgentId(type: "svc", key: "from-a")))
            b.send(.request(id: "1", target: try AgentId(type: "svc", key: "from-b")))
            let first = try #require(try await callee.next().requestValue)
            let second = try #require(try await callee.next().requestValue)
            #expect(first.requestID != second.requestID)  // the host keeps them apart
            // Answer in reverse order, naming the key each came for.
            for request in [second, first] {
              callee.send(.response(to: request.requestID, text: request.target.key))
            }
            let toA = try #require(try await a.next().responseValue)
            let toB = try #require(try await b.next().responseValue)
            #expect(toA.requestID == "1" && toA.text == #"{"text":"from-a"}"#)
            #expect(toB.requestID == "1" && toB.text == #"{"text":"from-b"}"#)
          }
        }
      }
    }
  }

  @Test("an RPC to a type nobody serves is answered with an error at once")
  func unknownType() async throws {
    try await withTestHost { _, address in
      try await withRawWorker(address) { caller in
        caller.send(.request(id: "7", target: try AgentId(type: "ghost", key: "k")))
        let response = try #require(try await caller.next(timeout: .seconds(5)).responseValue)
        #expect(response.requestID == "7")
        #expect(response.error == "no worker serves agent type 'ghost'")
      }
    }
  }

  @Test("when the callee's worker disconnects mid-RPC, its callers get an error at once")
  func calleeDisconnects() async throws {
    try await withTestHost { host, address in
      try await withRawWorker(address) { caller in
        let calleeId = "callee-\(UUID().uuidString)"
        try await withRawWorker(address, clientId: calleeId) { callee in
          try await callee.register("svc")
          caller.send(.request(id: "r1", target: try AgentId(type: "svc", key: "k")))
          caller.send(.request(id: "r2", target: try AgentId(type: "svc", key: "k2")))
          _ = try await callee.next()
          _ = try await callee.next()
          // Leave without answering.
        }
        let started = ContinuousClock.now
        var errors: [String: String] = [:]
        for _ in 0..<2 {
          let response = try #require(try await caller.next(timeout: .seconds(5)).responseValue)
          errors[response.requestID] = response.error
        }
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(Set(errors.keys) == ["r1", "r2"])
        #expect(errors["r1"] == "worker '\(calleeId)' hosting agent svc/k disconnected before responding")
        #expect(await host.router.waitUntil(timeout: .seconds(5)) { $0.pendingRPCs == 0 })
      }
    }
  }

  @Test("an RPC with no response within the host's deadline gets a timeout error")
  func deadline() async throws {
    try await withTestHost(rpcTimeout: .milliseconds(300)) { host, address in
      try await withRawWorker(address) { callee in
        try await callee.register("svc")
        try await withRawWorker(address) { caller in
          caller.send(.request(id: "slow", target: try AgentId(type: "svc", key: "k")))
          let request = try #require(try await callee.next().requestValue)
          let response = try #require(try await caller.next(timeout: .seconds(5)).responseValue)
          #expect(response.requestID == "slow")
          #expect(response.error.hasPrefix("timed out after 0.3 s waiting for agent svc/k"))
          // A late answer is dropped, not delivered as a second response.
          callee.send(.response(to: request.requestID, text: "late"))
          try await callee.barrier()
          try await caller.barrier()
          #expect(await host.router.waitUntil(timeout: .seconds(5)) { $0.pendingRPCs == 0 })
        }
      }
    }
  }

  @Test("an error response from the callee reaches the caller with its text")
  func remoteError() async throws {
    try await withTestHost { _, address in
      try await withRawWorker(address) { callee in
        try await callee.register("svc")
        try await withRawWorker(address) { caller in
          caller.send(.request(id: "e", target: try AgentId(type: "svc", key: "k")))
          let request = try #require(try await callee.next().requestValue)
          // As AutoGen's Python worker answers: error text only.
          callee.send(.with { $0.response = .with { $0.requestID = request.requestID; $0.error = "ValueError: nope" } })
          let response = try #require(try await caller.next().responseValue)
          #expect(response.requestID == "e" && response.error == "ValueError: nope")
        }
      }
    }
  }

  @Test("a response with neither a result nor an error reaches the caller as an error; an empty payload stays a result")
  func neitherResultNorError() async throws {
    try await withTestHost { host, address in
      try await withRawWorker(address) { callee in
        try await callee.register("svc")
        try await withRawWorker(address) { caller in
          caller.send(.request(id: "neither", target: try AgentId(type: "svc", key: "neither")))
          caller.send(.request(id: "empty", target: try AgentId(type: "svc", key: "empty")))
          for _ in 0..<2 {
            let request = try #require(try await callee.next().requestValue)
            callee.send(.with {
              $0.response = .with {
                $0.requestID = request.requestID
                // AutoGen's answer for a cancelled handler has no payload; "returned nothing" has
                // an explicitly present, empty one.
                if request.target.key == "empty" { $0.payload = Agents_Payload() }
              }
            })
          }
          var responses: [String: Agents_RpcResponse] = [:]
          for _ in 0..<2 {
            let response = try #require(try await caller.next().responseValue)
            responses[response.requestID] = response
          }
          let neither = try #require(responses["neither"])
          #expect(neither.error.contains("answered with neither a result nor an error"))
          #expect(neither.runtimeError?.code == .handlerFailed)
          let empty = try #require(responses["empty"])
          #expect(empty.error.isEmpty && empty.hasPayload)
          #expect(await host.router.waitUntil(timeout: .seconds(5)) { $0.pendingRPCs == 0 })
        }
      }
    }
  }
}
