import AgentCore
import AgentWire
import Foundation
import GRPCCore
@testable import GrpcHost
import SwiftProtobuf
import Testing

/// An open control channel for one client id.
final class ControlPeer: Sendable {
  let outbound: AsyncStream<Agents_ControlMessage>.Continuation
  let inbox = Inbox<Agents_ControlMessage>()
  init(outbound: AsyncStream<Agents_ControlMessage>.Continuation) { self.outbound = outbound }
}

func withControlChannel<R: Sendable>(
  _ rpc: Agents_AgentRpc.Client<some ClientTransport>, clientId: String,
  _ body: @Sendable (ControlPeer) async throws -> R
) async throws -> R {
  let (stream, continuation) = AsyncStream<Agents_ControlMessage>.makeStream()
  let peer = ControlPeer(outbound: continuation)
  return try await withThrowingTaskGroup(of: R?.self) { group in
    group.addTask {
      try? await rpc.openControlChannel(metadata: ["client-id": .string(clientId)]) { writer in
        for await message in stream { try await writer.write(message) }
      } onResponse: { response in
        for try await message in response.messages { peer.inbox.put(message) }
      }
      peer.inbox.close()
      return nil
    }
    let result = try await body(peer)
    continuation.finish()
    group.cancelAll()
    return result
  }
}

@Suite("Host: control channel and bad input", .timeLimit(.minutes(1)))
struct HostControlAndBadInputTests {
  func saveRequest(_ id: AgentId, rpcId: String, destination: String, respondTo: String?) throws -> Agents_ControlMessage {
    try .with {
      $0.rpcID = rpcId
      $0.destination = destination
      if let respondTo { $0.respondTo = respondTo }
      $0.rpcMessage = try Google_Protobuf_Any(message: Agents_SaveStateRequest.with { $0.agentID = Agents_AgentId(id) })
    }
  }

  @Test("control messages route by clientid= and agentid=; undeliverable ones get an error back")
  func controlRouting() async throws {
    try await withTestHost { host, address in
      try await withRawWorker(address, clientId: "worker-b") { b in
        try await b.register("stateful")
        try await withClient(address) { rpc in
          try await withControlChannel(rpc, clientId: "worker-a") { a in
            try await withControlChannel(rpc, clientId: "worker-b") { bControl in
              #expect(await host.router.waitUntil(timeout: .seconds(10)) { $0.controlClients == ["worker-a", "worker-b"] })
              let agent = try AgentId(type: "stateful", key: "k")
              // By agent id: reaches the worker hosting stateful/k.
              a.outbound.yield(try saveRequest(agent, rpcId: "1", destination: "agentid=stateful/k", respondTo: "clientid=worker-a"))
              let received = try await bControl.inbox.next(timeout: .seconds(10))
              #expect(received.rpcID == "1" && received.respondTo == "clientid=worker-a")
              // The answer goes back by client id.
              bControl.outbound.yield(try .with {
                $0.rpcID = "1"
                $0.destination = "clientid=worker-a"
                $0.rpcMessage = try Google_Protobuf_Any(message: Agents_SaveStateResponse.with { $0.state = #"{"n":1}"# })
              })
              let answer = try await a.inbox.next(timeout: .seconds(10))
              #expect(answer.rpcID == "1")
              #expect(try Agents_SaveStateResponse(unpackingAny: answer.rpcMessage).state == #"{"n":1}"#)

              // Undeliverable: unknown client, unserved type, malformed destination.
              for (rpcId, destination) in [("2", "clientid=nobody"), ("3", "agentid=ghost/k"), ("4", "somewhere")] {
                a.outbound.yield(try saveRequest(agent, rpcId: rpcId, destination: destination, respondTo: nil))
                let error = try await a.inbox.next(timeout: .seconds(10))
                #expect(error.rpcID == rpcId)
                #expect(error.destination == "clientid=worker-a")
                let response = try Agents_SaveStateResponse(unpackingAny: error.rpcMessage)
                #expect(response.hasError && !response.error.isEmpty, "\(destination)")
              }
            }
          }
        }
      }
    }
  }

  @Test("each bad frame is refused or logged, and the host keeps serving that worker and others")
  func badInput() async throws {
    try await withTestHost { _, address in
      try await withRawWorker(address) { callee in
        try await callee.register("svc")
        try await withRawWorker(address) { bad in
          // RpcRequest without target: error response.
          bad.send(.with { $0.request = .with { $0.requestID = "no-target" } })
          let noTarget = try #require(try await bad.next().responseValue)
          #expect(noTarget.requestID == "no-target" && noTarget.error.contains("has no target"))

          // Invalid agent id in the target: error response naming the rule.
          bad.send(.with { $0.request = .with { $0.requestID = "bad-id"; $0.target = .with { $0.type = "no spaces"; $0.key = "k" } } })
          let badId = try #require(try await bad.next().responseValue)
          #expect(badId.requestID == "bad-id" && badId.error.contains("invalid agent type 'no spaces'"))

          // CloudEvent without type, a Message with nothing set, a response nobody asked for: logged.
          bad.send(.with { $0.cloudEvent = .with { $0.id = "no-type" } })
          bad.send(Agents_Message())
          bad.send(.response(to: "never-asked", text: "?"))
          try await bad.barrier()

          // The same worker, and the others, still work normally.
          bad.send(.request(id: "ok", target: try AgentId(type: "svc", key: "k")))
          let request = try #require(try await callee.next().requestValue)
          callee.send(.response(to: request.requestID, text: "fine"))
          let ok = try #require(try await bad.next().responseValue)
          #expect(ok.requestID == "ok" && ok.error.isEmpty)
        }
      }
    }
  }

  @Test("garbage bytes on the channel end that stream only; the host keeps serving others")
  func garbageFrame() async throws {
    try await withTestHost { _, address in
      try await withRawWorker(address) { callee in
        try await callee.register("svc")
        // A client whose serializer sends bytes that are not an agents.Message.
        try await withGRPCClient(address) { client in
          let result = await #expect(throws: RPCError.self) {
            try await client.bidirectionalStreaming(
              request: StreamingClientRequest<[UInt8]>(metadata: ["client-id": "garbage"]) { writer in
                try await writer.write([0xFF, 0xFF, 0xFF, 0x0F, 0x01])
              },
              descriptor: Agents_AgentRpc.Method.OpenChannel.descriptor,
              serializer: RawBytes(), deserializer: RawBytes(), options: .defaults
            ) { response in
              for try await _ in response.messages {}
            }
          }
          #expect(result != nil)
        }
        try await withRawWorker(address) { caller in
          caller.send(.request(id: "after", target: try AgentId(type: "svc", key: "k")))
          let request = try #require(try await callee.next().requestValue)
          callee.send(.response(to: request.requestID, text: "alive"))
          #expect(try await caller.next().responseValue?.error.isEmpty == true)
        }
      }
    }
  }
}

struct RawBytes: GRPCCore.MessageSerializer, GRPCCore.MessageDeserializer {
  func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
  func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> [UInt8] {
    serializedMessageBytes.withUnsafeBytes { Array($0) }
  }
}

