import AgentCore
import AgentTestSupport
import AgentWire
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
@testable import GrpcHost
import SwiftProtobuf
import Synchronization
import Testing

/// `agents.state.v1.AgentStateStore`, the host's state store as its workers reach it: versioned
/// saves, who may use it, limits, a store that fails, and the metrics.
@Suite("Host: the state service", .timeLimit(.minutes(1)))
struct HostStateServiceTests {
  typealias StateClient = Agents_State_V1_AgentStateStore.Client<HTTP2ClientTransport.Posix>

  /// A host with `store`, a raw worker serving `counter`, and a state client speaking as it.
  func withStateClient(
    store: (any AgentStateStore)? = InMemoryAgentStateStore(),
    maxStateSize: Int = 1024,
    authToken: String? = nil,
    _ body: @Sendable (AgentHost, StateClient, _ as: Metadata) async throws -> Void
  ) async throws {
    try await withTestHost(
      authToken: authToken,
      configure: {
        $0.stateStore = store
        $0.maxStateSize = maxStateSize
        $0.stateStoreTimeout = .milliseconds(300)
      }
    ) { host, address in
      try await withRawWorker(address) { worker in
        // A registration call needs the token too when the host has one.
        var withToken = worker.metadata
        if let authToken { withToken.addString("Bearer \(authToken)", forKey: "authorization") }
        let metadata = withToken
        _ = try await worker.rpc.registerAgent(.with { $0.type = "counter" }, metadata: metadata)
        try await withGRPCClient(address) { client in
          try await body(host, StateClient(wrapping: client), metadata)
        }
      }
    }
  }

  func load(_ client: StateClient, _ key: String, as metadata: Metadata) async throws -> Agents_State_V1_LoadResponse {
    try await client.load(.with { $0.agentType = "counter"; $0.agentKey = key }, metadata: metadata)
  }

  func save(_ client: StateClient, _ key: String, _ text: String, expected: Int64, as metadata: Metadata) async throws -> Int64 {
    try await client.save(
      .with {
        $0.agentType = "counter"
        $0.agentKey = key
        $0.data = Data(text.utf8)
        $0.expectedVersion = expected
      }, metadata: metadata
    ).version
  }

  /// The `agerrorcode` trailer of a refusal.
  func runtimeCode(_ error: RPCError?) -> String? {
    error?.metadata[stringValues: RpcErrorCode.metadataKey].first(where: { _ in true })
  }

  @Test("a worker saves and loads its agents' state with versions; a stale save is refused with ABORTED")
  func versionedSaves() async throws {
    try await withStateClient { host, client, metadata in
      let empty = try await load(client, "a", as: metadata)
      #expect(!empty.found)
      let first = try await save(client, "a", #"{"n":1}"#, expected: 0, as: metadata)
      #expect(first == 1)
      let second = try await save(client, "a", #"{"n":2}"#, expected: 1, as: metadata)
      #expect(second == 2)
      let loaded = try await load(client, "a", as: metadata)
      #expect(loaded.found && loaded.version == 2 && loaded.data == Data(#"{"n":2}"#.utf8))

      let stale = await #expect(throws: RPCError.self) { try await save(client, "a", #"{"n":9}"#, expected: 1, as: metadata) }
      #expect(stale?.code == .aborted)
      #expect(runtimeCode(stale) == "state-conflict")
      #expect(stale?.message.contains("version 2 is stored and this instance last saw 1") == true)
      let after = try await load(client, "a", as: metadata)
      #expect(after.version == 2 && after.data == Data(#"{"n":2}"#.utf8))

      let text = host.metricsText()
      #expect(text.contains(#"agents_host_state_operations_total{operation="save",outcome="ok"} 2"#))
      #expect(text.contains(#"agents_host_state_operations_total{operation="save",outcome="conflict"} 1"#))
      #expect(text.contains(#"agents_host_state_operations_total{operation="load",outcome="ok"} 3"#))
      #expect(text.contains(#"agents_host_state_operation_duration_seconds_count{operation="save"} 3"#))
    }
  }

  @Test("only a worker that serves a type may use its agents' state; a missing client id is refused too")
  func permissions() async throws {
    try await withStateClient { _, client, metadata in
      let stranger: Metadata = ["client-id": "not-a-worker"]
      let refused = await #expect(throws: RPCError.self) { try await load(client, "a", as: stranger) }
      #expect(refused?.code == .permissionDenied)
      #expect(refused?.message == "the worker 'not-a-worker' does not serve 'counter': only a worker that registered a type may use its agents' state")
      let anonymous = await #expect(throws: RPCError.self) { try await save(client, "a", "{}", expected: 0, as: [:]) }
      #expect(anonymous?.code == .permissionDenied)
      // Another type, on the worker that serves counter only.
      let other = await #expect(throws: RPCError.self) {
        try await client.load(.with { $0.agentType = "wallet"; $0.agentKey = "a" }, metadata: metadata)
      }
      #expect(other?.code == .permissionDenied)
      let invalid = await #expect(throws: RPCError.self) {
        try await client.load(.with { $0.agentType = "no spaces"; $0.agentKey = "a" }, metadata: metadata)
      }
      #expect(invalid?.code == .invalidArgument)
    }
  }

  @Test("a state over the host's --max-state-size is refused with RESOURCE_EXHAUSTED and not stored")
  func oversized() async throws {
    try await withStateClient(maxStateSize: 100) { host, client, metadata in
      let refused = await #expect(throws: RPCError.self) {
        try await save(client, "a", String(repeating: "x", count: 101), expected: 0, as: metadata)
      }
      #expect(refused?.code == .resourceExhausted)
      #expect(refused?.message == "the state of counter/a is 101 bytes, over the limit of 100 bytes (maxStateSize); it was not saved")
      let stored = try await load(client, "a", as: metadata)
      #expect(!stored.found)
      #expect(host.metricsText().contains(#"agents_host_state_operations_total{operation="save",outcome="refused"} 1"#))
    }
  }

  @Test("a store that fails or hangs: the worker gets INTERNAL or UNAVAILABLE in bounded time; the host keeps serving")
  func failingStore() async throws {
    let store = FlakyStore()
    try await withStateClient(store: store) { host, client, metadata in
      store.failSaves.store(true, ordering: .relaxed)
      let failed = await #expect(throws: RPCError.self) { try await save(client, "a", "{}", expected: 0, as: metadata) }
      #expect(failed?.code == .internalError)
      #expect(runtimeCode(failed) == "state-store-failed")
      #expect(failed?.message == "could not save the state of counter/a: connection refused")
      store.failSaves.store(false, ordering: .relaxed)
      store.hang.store(true, ordering: .relaxed)
      let hung = await #expect(throws: RPCError.self) { try await load(client, "a", as: metadata) }
      #expect(hung?.code == .unavailable)
      #expect(hung?.message == "could not load the state of counter/a: the state store did not answer within 0.3 s")
      store.hang.store(false, ordering: .relaxed)
      let saved = try await save(client, "a", "{}", expected: 0, as: metadata)
      #expect(saved == 1)
      let text = host.metricsText()
      #expect(text.contains(#"agents_host_state_operations_total{operation="save",outcome="failed"} 1"#))
      #expect(text.contains(#"agents_host_state_operations_total{operation="load",outcome="unavailable"} 1"#))
    }
  }

  @Test("a host without a state store answers UNIMPLEMENTED")
  func noStore() async throws {
    try await withStateClient(store: nil) { _, client, metadata in
      let refused = await #expect(throws: RPCError.self) { try await load(client, "a", as: metadata) }
      #expect(refused?.code == .unimplemented)
    }
  }

  @Test("with a token, state calls need it as agents.AgentRpc calls do")
  func token() async throws {
    try await withStateClient(authToken: "s3cret") { _, client, metadata in
      let loaded = try await load(client, "a", as: metadata)
      #expect(!loaded.found)
      var without = metadata
      without.removeAllValues(forKey: "authorization")
      let refused = await #expect(throws: RPCError.self) { try await load(client, "a", as: without) }
      #expect(refused?.code == .unauthenticated)
    }
  }
}
