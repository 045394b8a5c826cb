import AgentCore
import AgentWire
import AsyncHTTPClient
import Foundation
import GRPCCore
import Logging
import Synchronization
import NIOHTTP1
@testable import GrpcHost
import SwiftProtobuf
import Testing

/// Per-identity permissions: each token may serve, publish, watch and call only what its identity
/// allows, on workers' channels, registrations, subscriptions and the gateway.
@Suite("Host: per-identity permissions", .timeLimit(.minutes(1)))
struct HostAuthorizationTests {
  static func patterns(_ texts: String...) -> [NamePattern] { texts.map { try! NamePattern($0) } }

  static let credentials = Credentials([
    ("chat-token", Identity(name: "chat-worker", permissions: Permissions(
      serve: patterns("chat"), publish: patterns("chat.*"), watch: patterns("chat.*"), call: patterns("llm*")))),
    ("payments-token", Identity(name: "payments-worker", permissions: Permissions(
      serve: patterns("payments"), publish: patterns("payments.*"), watch: patterns("payments.*"), call: patterns("*")))),
    ("caller-token", Identity(name: "web-app", permissions: Permissions(
      publish: patterns("chat.events"), watch: patterns("chat.*"), call: patterns("payments", "echo")))),
  ])

  func withSecuredHost<R: Sendable>(_ body: @Sendable (AgentHost, HostAddress) async throws -> R) async throws -> R {
    try await withTestHost(authToken: "shared", configure: { $0.credentials = Self.credentials }, body)
  }

  @Test("a hijack fails: an identity allowed only 'chat' cannot register 'payments'; the real payments worker gets every call")
  func hijack() async throws {
    try await withSecuredHost { host, address in
      try await withRawWorker(address, token: "payments-token") { payments in
        try await payments.register("payments")
        try await withRawWorker(address, token: "chat-token") { intruder in
          let refused = await #expect(throws: RPCError.self) { try await intruder.register("payments") }
          #expect(refused?.code == .permissionDenied)
          #expect(refused?.message == "identity 'chat-worker' may not serve agent type 'payments'")
          try await intruder.register("chat")  // what it may serve
          try await withRawWorker(address, token: "caller-token") { caller in
            for n in 0..<6 {
              caller.send(.request(id: "r\(n)", target: try AgentId(type: "payments", key: "k\(n)")))
              let request = try #require(try await payments.next().requestValue)
              payments.send(.response(to: request.requestID, text: "paid \(n)"))
              let answer = try #require(try await caller.next().responseValue)
              #expect(answer.requestID == "r\(n)" && answer.error.isEmpty)
            }
          }
        }
      }
      let metrics = host.metricsText()
      #expect(metrics.contains(#"agents_host_permission_denials_total{action="serve"} 1"#))
    }
  }

  @Test("an RPC to a type the caller may not call is answered with permission-denied; allowed calls pass")
  func rpcDenied() async throws {
    try await withSecuredHost { host, address in
      try await withRawWorker(address, token: "payments-token") { payments in
        try await payments.register("payments")
        try await withRawWorker(address, token: "chat-token") { chat in
          chat.send(.request(id: "steal", target: try AgentId(type: "payments", key: "k")))
          let refused = try #require(try await chat.next().responseValue)
          #expect(refused.requestID == "steal")
          #expect(refused.runtimeError?.code == .permissionDenied)
          #expect(refused.error == "identity 'chat-worker' may not call agent type 'payments'")
          // Allowed by "llm*": past the check, and then nobody serves it.
          chat.send(.request(id: "ask", target: try AgentId(type: "llm.small", key: "k")))
          let unknown = try #require(try await chat.next().responseValue)
          #expect(unknown.runtimeError?.code == .unknownAgentType)
        }
      }
      #expect(host.metricsText().contains(#"agents_host_permission_denials_total{action="call"} 1"#))
    }
  }

  @Test("a publish to a topic the identity may not publish to is dropped, even with a forged sender; allowed publishes arrive")
  func publishDenied() async throws {
    try await withSecuredHost { host, address in
      try await withRawWorker(address, token: "payments-token") { payments in
        try await payments.register("payments")
        try await payments.subscribe(.type("payments.events"), agentType: "payments")
        try await withRawWorker(address, token: "chat-token") { chat in
          // A forged sender claims to be a payments agent: the channel's identity decides.
          try chat.publish(try TopicId(type: "payments.events", source: "s"), text: "forged",
                           sender: try AgentId(type: "payments", key: "k"))
          try await chat.barrier()
        }
        try await withRawWorker(address, token: "payments-token") { other in
          try other.publish(try TopicId(type: "payments.events", source: "s"), text: "genuine")
          try await other.barrier()
        }
        let event = try #require(try await payments.next().eventValue)
        #expect(event.textData.contains("genuine"), "\(event)")
      }
      #expect(host.metricsText().contains(#"agents_host_permission_denials_total{action="publish"} 1"#))
    }
  }

  @Test("subscriptions need the type served and every matching topic watchable; prefix patterns cover prefixes")
  func subscriptions() async throws {
    try await withSecuredHost { _, address in
      try await withRawWorker(address, token: "chat-token") { chat in
        try await chat.register("chat")
        try await chat.subscribe(.type("chat.room1"), agentType: "chat")
        try await chat.subscribe(.typePrefix("chat.rooms."), agentType: "chat")
        let topic = await #expect(throws: RPCError.self) { try await chat.subscribe(.type("payments.events"), agentType: "chat") }
        #expect(topic?.code == .permissionDenied)
        #expect(topic?.message == "identity 'chat-worker' may not watch topic 'payments.events'")
        // "ch" prefix would reach topics that "chat.*" does not cover.
        let wide = await #expect(throws: RPCError.self) { try await chat.subscribe(.typePrefix("ch"), agentType: "chat") }
        #expect(wide?.code == .permissionDenied)
        let otherType = await #expect(throws: RPCError.self) { try await chat.subscribe(.type("chat.x"), agentType: "payments") }
        #expect(otherType?.message == "identity 'chat-worker' may not serve agent type 'payments'")
      }
    }
  }

  @Test("a worker never receives events on topics its identity may not watch, even when another identity subscribed its type")
  func deliveryFollowsWatch() async throws {
    try await withSecuredHost { _, address in
      try await withRawWorker(address, token: "chat-token") { chat in
        try await chat.register("chat")
        try await withRawWorker(address, token: "shared") { admin in
          // The all-access identity subscribes chat agents to a topic chat-worker may not watch.
          try await admin.subscribe(.type("secrets"), agentType: "chat")
          try await admin.subscribe(.type("chat.news"), agentType: "chat")
          try admin.publish(try TopicId(type: "secrets", source: "s"), text: "classified")
          try admin.publish(try TopicId(type: "chat.news", source: "s"), text: "public")
          try await admin.barrier()
        }
        // The host routes one channel's frames in order: "secrets" went first, so chat.news
        // arriving first shows "secrets" was not delivered.
        let event = try #require(try await chat.next().eventValue)
        #expect(event.type == "chat.news")
      }
    }
  }

  @Test("an unknown token is UNAUTHENTICATED; the shared token keeps all access")
  func unknownToken() async throws {
    try await withSecuredHost { _, address in
      try await withClient(address) { rpc in
        let refused = await #expect(throws: RPCError.self) {
          try await rpc.registerAgent(.with { $0.type = "chat" }, metadata: ["client-id": "c", "authorization": "Bearer stolen"])
        }
        #expect(refused?.code == .unauthenticated)
        _ = try await rpc.registerAgent(.with { $0.type = "payments" }, metadata: ["client-id": "c", "authorization": "Bearer shared"])
      }
    }
  }

  @Test("the HTTP gateway: 403 with a JSON error for what the caller may not do; allowed calls, publishes and streams work")
  func httpGateway() async throws {
    try await withGateway(authToken: "shared", credentials: Self.credentials) { fixture in
      let auth = [("Authorization", "Bearer caller-token")]
      let allowed = try await http(.POST, "\(fixture.base)/v1/agents/echo/k?type=ChatMessage", body: #"{"text":"hi"}"#, headers: auth)
      #expect(allowed.status == 200, "\(allowed.body)")
      let call = try await http(.POST, "\(fixture.base)/v1/agents/thrower/k?type=ChatMessage", body: #"{"text":"hi"}"#, headers: auth)
      #expect(call.status == 403)
      #expect(call.json["code"] as? String == "permission-denied")
      #expect(call.json["message"] as? String == "identity 'web-app' may not call agent type 'thrower'")
      let publish = try await http(.POST, "\(fixture.base)/v1/topics/chat.events/s?type=ChatMessage", body: #"{"text":"hi"}"#, headers: auth)
      #expect(publish.status == 202)
      let forbidden = try await http(.POST, "\(fixture.base)/v1/topics/payments.events/s?type=ChatMessage", body: #"{"text":"hi"}"#, headers: auth)
      #expect(forbidden.status == 403)
      let tail = try await http(.GET, "\(fixture.base)/v1/topics/payments.events/events", headers: auth)
      #expect(tail.status == 403)
      #expect(tail.json["message"] as? String == "identity 'web-app' may not watch topic 'payments.events'")
      let prefix = try await http(.GET, "\(fixture.base)/v1/topics/chat/events?prefix=true", headers: auth)
      #expect(prefix.status == 403)
      let unknown = try await http(.POST, "\(fixture.base)/v1/agents/echo/k?type=ChatMessage", body: "{}", headers: [("Authorization", "Bearer nope")])
      #expect(unknown.status == 401)
    }
  }

  @Test("the gRPC gateway: PERMISSION_DENIED for what the caller may not do")
  func grpcGateway() async throws {
    try await withGateway(authToken: "shared", credentials: Self.credentials) { fixture in
      try await withGRPCClient(fixture.grpc) { client in
        let gateway = Agents_Gateway_V1_Gateway.Client(wrapping: client)
        let metadata: Metadata = ["authorization": "Bearer caller-token"]
        let message = Agents_Gateway_V1_Payload.with {
          $0.type = "ChatMessage"
          $0.json = #"{"text":"hi"}"#
        }
        let answer = try await gateway.invoke(
          .with { $0.agentType = "echo"; $0.agentKey = "k"; $0.message = message }, metadata: metadata)
        #expect(answer.hasResult)
        let refused = await #expect(throws: RPCError.self) {
          try await gateway.invoke(.with { $0.agentType = "thrower"; $0.agentKey = "k"; $0.message = message }, metadata: metadata)
        }
        #expect(refused?.code == .permissionDenied)
        let publish = await #expect(throws: RPCError.self) {
          try await gateway.publish(.with { $0.topicType = "payments.events"; $0.topicSource = "s"; $0.message = message }, metadata: metadata)
        }
        #expect(publish?.code == .permissionDenied)
      }
    }
  }

  @Test("every denial is an audit log line: identity, action, target, client id")
  func auditLine() async throws {
    let records = CapturedLogs()
    var configuration = AgentHost.Configuration(address: HostAddress(host: "127.0.0.1", port: 0))
    configuration.credentials = Self.credentials
    _ = try await withAgentHost(configuration: configuration, logger: Logger(label: "audit") { _ in records }) { host in
      try await withRawWorker(try await host.listeningAddress(), clientId: "w1", token: "chat-token") { chat in
        await #expect(throws: RPCError.self) { try await chat.register("payments") }
      }
    }
    let denial = try #require(records.all.first { $0.message == "permission denied" })
    #expect(denial.level == .notice)
    #expect(denial.metadata == ["identity": "chat-worker", "action": "serve", "target": "payments", "client-id": "w1"])
  }

  @Test("name patterns: exact, prefix and any; prefixes covered; bad patterns refused")
  func namePatterns() throws {
    let exact = try NamePattern("chat")
    let prefix = try NamePattern("chat.*")
    #expect(exact.matches("chat") && !exact.matches("chat.x"))
    #expect(prefix.matches("chat.x") && !prefix.matches("chat"))
    #expect(NamePattern.any.matches("anything"))
    #expect(prefix.covers(prefix: "chat.rooms.") && !prefix.covers(prefix: "ch") && !exact.covers(prefix: "chat"))
    #expect(throws: AgentRuntimeError.self) { try NamePattern("a*b") }
    #expect(throws: AgentRuntimeError.self) { try NamePattern("") }
  }

  @Test("a credentials file: hashes, not tokens; clear errors naming the file and identity")
  func credentialsFile() async throws {
    let hash = Credentials.hash("t0k3n")
    let good = Data(#"{"identities":[{"name":"a","token_sha256":"\#(hash)","serve":["x*"],"call":["*"]}]}"#.utf8)
    let credentials = try await Credentials.parse(good, source: "auth.json")
    #expect(credentials.identity(forToken: "t0k3n")?.name == "a")
    #expect(credentials.identity(forToken: "t0k3n")?.permissions.allows(.serve, "xy") == true)
    #expect(credentials.identity(forToken: "t0k3n")?.permissions.allows(.publish, "xy") == false)
    #expect(credentials.identity(forToken: hash) == nil)
    let shortHash = Data(#"{"identities":[{"name":"a","token_sha256":"abc"}]}"#.utf8)
    let error = await #expect(throws: AgentRuntimeError.self) { try await Credentials.parse(shortHash, source: "auth.json") }
    #expect(error?.message == "'auth.json', identity 1 ('a'): token_sha256 must be 64 hex digits (printf %s TOKEN | sha256sum)")
    let badPattern = Data(#"{"identities":[{"name":"b","token_sha256":"\#(hash)","watch":["a*b"]}]}"#.utf8)
    let patternError = await #expect(throws: AgentRuntimeError.self) { try await Credentials.parse(badPattern, source: "auth.json") }
    #expect(patternError?.message.hasPrefix("'auth.json', identity 1 ('b'): 'a*b' is not a name pattern") == true)
  }
}

/// A log handler that keeps every record, for assertions on log lines.
final class CapturedLogs: LogHandler, @unchecked Sendable {
  struct Record: Sendable {
    var level: Logger.Level
    var message: String
    var metadata: [String: String]
  }
  private let records = Mutex<[Record]>([])
  var metadata: Logger.Metadata = [:]
  var logLevel: Logger.Level = .trace

  var all: [Record] { records.withLock { $0 } }

  subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  func log(event: LogEvent) {
    let fields = (event.metadata ?? [:]).mapValues { "\($0)" }
    records.withLock { $0.append(Record(level: event.level, message: "\(event.message)", metadata: fields)) }
  }
}

extension Io_Cloudevents_V1_CloudEvent {
  /// The event's data as text.
  var textData: String {
    switch data {
    case .binaryData(let bytes): String(decoding: bytes, as: UTF8.self)
    case .textData(let text): text
    default: ""
    }
  }
}
