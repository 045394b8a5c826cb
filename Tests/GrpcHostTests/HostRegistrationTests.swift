import AgentCore
import AgentWire
import Foundation
import GRPCCore
@testable import GrpcHost
import SwiftProtobuf
import Testing

@Suite("Host: client-id, registration, subscriptions", .timeLimit(.minutes(1)))
struct HostRegistrationTests {
  @Test("a call without client-id fails with INVALID_ARGUMENT naming the key")
  func missingClientId() async throws {
    try await withTestHost { _, address in
      try await withClient(address) { rpc in
        let error = await #expect(throws: RPCError.self) {
          try await rpc.registerAgent(.with { $0.type = "t" })
        }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("client-id") == true)

        let streamError = await #expect(throws: RPCError.self) {
          try await rpc.openChannel { _ in } onResponse: { response in
            for try await _ in response.messages {}
          }
        }
        #expect(streamError?.code == .invalidArgument)
        #expect(streamError?.message.contains("client-id") == true)
      }
    }
  }

  @Test("an invalid agent type is refused with INVALID_ARGUMENT naming it")
  func invalidType() async throws {
    try await withTestHost { _, address in
      try await withRawWorker(address) { worker in
        let error = await #expect(throws: RPCError.self) { try await worker.register("bad type") }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("'bad type'") == true)
      }
    }
  }

  @Test("registration works before the stream opens and after")
  func registrationBeforeAndAfterStream() async throws {
    try await withTestHost { host, address in
      let early = "early-\(UUID().uuidString)"
      // Register on a connection that has no channel yet, then open the channel with that client-id.
      try await withRawWorker(address, clientId: early, openChannel: false) { worker in
        try await worker.register("before")
      }
      try await withRawWorker(address, clientId: early) { callee in
        try await callee.barrier()
        try await callee.register("after")
        try await withRawWorker(address) { caller in
          for type in ["before", "after"] {
            caller.send(.request(id: type, target: try AgentId(type: type, key: "k")))
            let request = try #require(try await callee.next().requestValue)
            #expect(request.target.type == type)
            callee.send(.response(to: request.requestID, text: "hi from \(type)"))
            let response = try #require(try await caller.next().responseValue)
            #expect(response.requestID == type)
            #expect(response.error.isEmpty)
            #expect(response.text == #"{"text":"hi from \#(type)"}"#)
          }
        }
      }
      // When the stream ends, its registrations go away.
      #expect(await host.router.waitUntil(timeout: .seconds(10)) { $0.registeredTypes.isEmpty })
    }
  }

  @Test("subscriptions: duplicates are INVALID_ARGUMENT 'already exists', unknown ids NOT_FOUND, list has ids")
  func subscriptions() async throws {
    try await withTestHost { host, address in
      try await withRawWorker(address) { worker in
        try await worker.subscribe(.type("news"), agentType: "reader", id: "s1")
        try await worker.subscribe(.typePrefix("reader:"), agentType: "reader", id: "s2")

        let sameId = await #expect(throws: RPCError.self) {
          try await worker.subscribe(.type("other"), agentType: "reader", id: "s1")
        }
        #expect(sameId?.code == .invalidArgument)
        #expect(sameId?.message.contains("already exists") == true)

        let sameContent = await #expect(throws: RPCError.self) {
          try await worker.subscribe(.type("news"), agentType: "reader", id: "s3")
        }
        #expect(sameContent?.code == .invalidArgument)
        #expect(sameContent?.message.contains("already exists") == true)

        let noKind = await #expect(throws: RPCError.self) {
          try await worker.rpc.addSubscription(.with { $0.subscription.id = "s4" }, metadata: worker.metadata)
        }
        #expect(noKind?.code == .invalidArgument)

        let listed = try await worker.rpc.getSubscriptions(.init(), metadata: worker.metadata).subscriptions
        #expect(Set(listed.map(\.id)) == ["s1", "s2"])
        #expect(listed.first { $0.id == "s1" }?.typeSubscription.topicType == "news")
        #expect(listed.first { $0.id == "s2" }?.typePrefixSubscription.topicTypePrefix == "reader:")

        let unknown = await #expect(throws: RPCError.self) {
          try await worker.rpc.removeSubscription(.with { $0.id = "nope" }, metadata: worker.metadata)
        }
        #expect(unknown?.code == .notFound)
        #expect(unknown?.message.contains("'nope'") == true)

        _ = try await worker.rpc.removeSubscription(.with { $0.id = "s1" }, metadata: worker.metadata)
        let after = try await worker.rpc.getSubscriptions(.init(), metadata: worker.metadata).subscriptions
        #expect(after.map(\.id) == ["s2"])
      }
      // The worker's subscriptions go away with its stream.
      #expect(await host.router.waitUntil(timeout: .seconds(10)) { $0.subscriptions == 0 })
    }
  }

  @Test("a second channel with the same client-id is refused")
  func duplicateChannel() async throws {
    try await withTestHost { _, address in
      try await withRawWorker(address, clientId: "same") { first in
        try await first.barrier()
        try await withClient(address) { rpc in
          let error = await #expect(throws: RPCError.self) {
            try await rpc.openChannel(metadata: ["client-id": "same"]) { _ in } onResponse: { response in
              for try await _ in response.messages {}
            }
          }
          #expect(error?.code == .alreadyExists)
        }
        try await first.barrier()  // the first channel is unaffected
      }
    }
  }
}
