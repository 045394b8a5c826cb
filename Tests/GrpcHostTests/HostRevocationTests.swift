import AgentCore
import AgentWire
import AsyncHTTPClient
import Foundation
import GRPCCore
@testable import GrpcHost
import Logging
import NIOHTTP1
import SwiftProtobuf
import Testing

/// Reloading credentials while the host runs: a revoked credential's streams end with
/// UNAUTHENTICATED within a second, a changed identity's with UNAVAILABLE (its worker reconnects
/// under the new permissions), and everyone else carries on.
@Suite("Host: credential reload and revocation", .timeLimit(.minutes(1)))
struct HostRevocationTests {
  static func patterns(_ texts: String...) -> [NamePattern] { texts.map { try! NamePattern($0) } }

  static let chat = Identity(name: "chat-worker", permissions: Permissions(serve: patterns("chat"), watch: patterns("chat*")))
  static let payments = Identity(name: "payments-worker", permissions: Permissions(serve: patterns("payments")))
  static let webApp = Identity(name: "web-app", permissions: Permissions(watch: patterns("chat*"), call: patterns("payments")))

  static let all = Credentials([("chat-token", chat), ("payments-token", payments), ("caller-token", webApp)])

  @Test("revoking a token ends that identity's channel with UNAUTHENTICATED at once; other workers and callers carry on")
  func revokeToken() async throws {
    try await withTestHost(authToken: "shared", configure: { $0.credentials = Self.all }) { host, address in
      try await withRawWorker(address, token: "chat-token") { chat in
        try await chat.register("chat")
        try await withRawWorker(address, token: "payments-token") { payments in
          try await payments.register("payments")
          #expect(host.authenticatedStreams == 2)
          let ended = try await host.replaceCredentials(Credentials([("payments-token", Self.payments), ("caller-token", Self.webApp)]))
          #expect(ended == 1)
          let end = try await chat.channelEnd.next(timeout: .seconds(1))
          #expect(end?.code == .unauthenticated)
          #expect(end?.message == "the credentials of identity 'chat-worker' were revoked")
          // The revoked token opens nothing any more.
          let again = await #expect(throws: RPCError.self) { try await chat.register("chat") }
          #expect(again?.code == .unauthenticated)
          // The payments worker still serves its callers.
          try await withRawWorker(address, token: "caller-token") { caller in
            caller.send(.request(id: "r1", target: try AgentId(type: "payments", key: "k")))
            let request = try #require(try await payments.next().requestValue)
            payments.send(.response(to: request.requestID, text: "paid"))
            let answer = try #require(try await caller.next().responseValue)
            #expect(answer.requestID == "r1" && answer.error.isEmpty)
          }
        }
      }
    }
  }

  @Test("an identity whose permissions change is closed with UNAVAILABLE (reconnect); an unchanged one is left alone")
  func permissionsChanged() async throws {
    try await withTestHost(configure: { $0.credentials = Self.all }) { host, address in
      try await withRawWorker(address, token: "chat-token") { chat in
        try await chat.register("chat")
        try await withRawWorker(address, token: "payments-token") { payments in
          try await payments.register("payments")
          let wider = Identity(name: "chat-worker", permissions: Permissions(serve: Self.patterns("chat", "chat.*")))
          let ended = try await host.replaceCredentials(
            Credentials([("chat-token", wider), ("payments-token", Self.payments), ("caller-token", Self.webApp)]))
          #expect(ended == 1)
          let end = try await chat.channelEnd.next(timeout: .seconds(1))
          #expect(end?.code == .unavailable)
          #expect(end?.message == "the permissions of identity 'chat-worker' changed; reconnect to use the new ones")
          // Under the new permissions, the same token may do more.
          try await withRawWorker(address, token: "chat-token") { again in try await again.register("chat.rooms") }
          // Still open: nothing ends it.
          await #expect(throws: TimeoutError.self) { try await payments.channelEnd.nextOrEnd(timeout: .milliseconds(200)) }
        }
      }
    }
  }

  @Test("a revoked caller's topic streams end: SSE with a final 'event: error', gRPC Subscribe with UNAUTHENTICATED")
  func revokedStreams() async throws {
    try await withGateway(authToken: "shared", credentials: Self.all) { fixture in
      let sse = try await openStream(.GET, "\(fixture.base)/v1/topics/chat/events", headers: [("Authorization", "Bearer caller-token")])
      #expect(sse.status == .ok)
      try await withGatewayClient(fixture) { gateway in
        try await withThrowingTaskGroup(of: RPCError?.self) { group in
          group.addTask {
            do {
              try await gateway.subscribe(.with { $0.topicType = "chat" }, metadata: ["authorization": "Bearer caller-token"]) { response in
                for try await _ in response.messages {}
              }
              return nil
            } catch let error as RPCError {
              return error
            }
          }
          #expect(await fixture.host.router.waitUntil(timeout: .seconds(5)) { $0.tapReaders == 2 })
          try await fixture.host.replaceCredentials(Credentials([("chat-token", Self.chat)]))
          var reader = SSEReader(sse)
          let last = try await reader.next()
          #expect(last?.event == "error")
          #expect(last?.json["code"] as? String == "unauthenticated")
          #expect(last?.json["message"] as? String == "the credentials of identity 'web-app' were revoked")
          #expect(try await reader.next() == nil)
          let subscribeEnd = try await group.next()!
          #expect(subscribeEnd?.code == .unauthenticated)
          #expect(subscribeEnd?.message == "the credentials of identity 'web-app' were revoked")
        }
      }
      // The shared token (the fixture's worker) is untouched.
      let call = try await http(.POST, "\(fixture.base)/v1/agents/echo/k?type=ChatMessage", body: #"{"text":"hi"}"#, headers: [("Authorization", "Bearer shared")])
      #expect(call.status == 200)
    }
  }

  @Test("a stream that opens while a reload sweeps (checked against the old credentials) is checked again, not missed")
  func reloadRacingAnOpen() async throws {
    let authenticator = Authenticator(sharedToken: nil, credentials: Self.all)
    let streams = OpenStreams(authenticator: authenticator)
    let caller = try await authenticator.caller(.bearer("chat-token"))  // checked before the reload
    authenticator.replace(Credentials([("payments-token", Self.payments)]))
    #expect(await streams.revalidate() == 0)  // the sweep ran before the stream registered
    let ended = Inbox<AgentRuntimeError>()
    let registration = await streams.open(caller) { ended.put($0) }
    defer { registration?.close() }
    let reason = try await ended.next(timeout: .seconds(1))
    #expect(reason.code == .unauthenticated)
    #expect(streams.count == 0)
    // Checked against the current credentials: registered, nothing ended.
    let current = try await authenticator.caller(.bearer("payments-token"))
    let kept = await streams.open(current) { ended.put($0) }
    #expect(streams.count == 1)
    kept?.close()
    #expect(streams.count == 0)
  }

  @Test("the file watcher: a changed file revokes within a second; a broken file is refused and the host keeps its credentials")
  func fileWatcher() async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("agents-auth-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let file = directory.appendingPathComponent("auth.json")
    @Sendable func entry(_ name: String, _ token: String, serve: String) -> String {
      #"{"name":"\#(name)","token_sha256":"\#(Credentials.hash(token))","serve":["\#(serve)"]}"#
    }
    let both = #"{"identities":[\#(entry("chat-worker", "chat-token", serve: "chat")),\#(entry("payments-worker", "payments-token", serve: "payments"))]}"#
    try Data(both.utf8).write(to: file)
    let credentials = try await Credentials.load(contentsOf: file.path)
    let logs = CapturedLogs()
    try await withTestHost(configure: { $0.credentials = credentials }) { host, address in
      let watcher = CredentialsFileWatcher(path: file.path, host: host, signals: [], logger: Logger(label: "watcher") { _ in logs })
      watcher.loaded(Data(both.utf8))
      try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await watcher.run() }
        defer { group.cancelAll() }
        try await withRawWorker(address, token: "chat-token") { chat in
          try await chat.register("chat")
          try await withRawWorker(address, token: "payments-token") { payments in
            try await payments.register("payments")
            // Broken: refused, nothing changes.
            try Data("{not json".utf8).write(to: file)
            #expect(await watcher.reload(reason: "test") == false)
            #expect(logs.all.contains { $0.message == "credentials not reloaded: the host keeps the ones it has" })
            // Revoke chat-token by editing the file: the watcher (every 500 ms) ends its channel.
            let onlyPayments = #"{"identities":[\#(entry("payments-worker", "payments-token", serve: "payments"))]}"#
            try Data(onlyPayments.utf8).write(to: file)
            let end = try await chat.channelEnd.next(timeout: .seconds(1))
            #expect(end?.code == .unauthenticated)
            try await payments.register("payments")  // still admitted
          }
        }
      }
    }
  }
}
