import AgentCore
import AgentTestSupport
import Foundation
@testable import GrpcHost
import NIOHTTP1
import Testing

/// The web console: its files at `/` (the committed assets, no token needed), and the read-only
/// JSON it reads: `/v1/overview`, `/v1/workers` and the agent types' call figures.
@Suite("Gateway: web console", .timeLimit(.minutes(1)))
struct GatewayConsoleTests {
  @Test("/, /console.js and /console.css serve the committed assets, open, with a strict content security policy")
  func assets() async throws {
    try await withGateway(authToken: "console-token") { fixture in
      let assets = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Sources/GrpcHost/Console/Assets")
      for (path, file, type) in [("/", "index.html", "text/html"), ("/console.js", "console.js", "text/javascript"), ("/console.css", "console.css", "text/css")] {
        let served = try await http(.GET, "\(fixture.base)\(path)")
        #expect(served.status == 200)
        let committed = try String(contentsOf: assets.appendingPathComponent(file), encoding: .utf8)
        #expect(served.body == committed, "run scripts/generate-console.sh (\(file))")
        #expect(served.headers["content-type"]?.hasPrefix(type) == true)
        #expect(served.headers["content-security-policy"]?.contains("default-src 'self'") == true)
      }
      // The page is open; what it reads is not.
      #expect(try await http(.GET, "\(fixture.base)/v1/overview").status == 401)
    }
  }

  @Test("/v1/overview counts what the host serves; /v1/agent-types adds instances, calls, errors and latencies")
  func overviewAndTypes() async throws {
    try await withGateway(authToken: "console-token") { fixture in
      let auth = [("Authorization", "Bearer console-token")]
      for key in ["a", "b"] {
        let call = try await http(.POST, "\(fixture.base)/v1/agents/echo/\(key)?type=ChatMessage", body: #"{"text":"hi"}"#, headers: auth)
        #expect(call.status == 200)
      }
      let failed = try await http(.POST, "\(fixture.base)/v1/agents/thrower/k?type=ChatMessage", body: #"{"text":"hi"}"#, headers: auth)
      #expect(failed.status == 502)
      let overview = try await http(.GET, "\(fixture.base)/v1/overview", headers: auth).json
      #expect(overview["workers"] as? Int == 1)
      #expect(overview["agentTypes"] as? Int == 4)
      #expect(overview["instances"] as? Int == 3)
      #expect(overview["identity"] as? String == "shared-token")
      #expect((overview["calls"] as? [String: Any])?["finished"] as? Int == 3)
      #expect((overview["calls"] as? [String: Any])?["failed"] as? Int == 1)
      #expect((overview["uptimeSeconds"] as? Double ?? -1) >= 0)
      let types = try await http(.GET, "\(fixture.base)/v1/agent-types", headers: auth).json["agentTypes"] as? [[String: Any]] ?? []
      let echo = try #require(types.first { $0["type"] as? String == "echo" })
      #expect(echo["instances"] as? Int == 2 && echo["calls"] as? Int == 2 && echo["errors"] as? Int == 0)
      #expect((echo["p50Ms"] as? Double ?? 0) > 0 && (echo["p99Ms"] as? Double ?? 0) >= (echo["p50Ms"] as? Double ?? 0))
      let thrower = try #require(types.first { $0["type"] as? String == "thrower" })
      #expect(thrower["calls"] as? Int == 1 && thrower["errors"] as? Int == 1)
      let silent = try #require(types.first { $0["type"] as? String == "silent" })
      #expect(silent["calls"] as? Int == 0 && silent["p50Ms"] == nil)
    }
  }

  @Test("/v1/workers: each worker's address, identity, types, instances and message counts; paging, filter, bad paging refused")
  func workers() async throws {
    try await withGateway(authToken: "console-token") { fixture in
      let auth = [("Authorization", "Bearer console-token")]
      _ = try await http(.POST, "\(fixture.base)/v1/agents/echo/k?type=ChatMessage", body: #"{"text":"hi"}"#, headers: auth)
      let page = try await http(.GET, "\(fixture.base)/v1/workers", headers: auth).json
      #expect(page["total"] as? Int == 1)
      let worker = try #require((page["workers"] as? [[String: Any]])?.first)
      #expect(worker["types"] as? [String] == ["echo", "silent", "streamer", "thrower"])
      #expect(worker["identity"] as? String == "shared-token")
      #expect((worker["address"] as? String)?.contains("127.0.0.1") == true)
      #expect(worker["instances"] as? Int == 1)
      #expect((worker["messagesIn"] as? Int ?? 0) >= 1 && (worker["messagesOut"] as? Int ?? 0) >= 1)
      #expect(worker["connectedAt"] as? String != nil)
      let beyond = try await http(.GET, "\(fixture.base)/v1/workers?offset=1&limit=10", headers: auth).json
      #expect(beyond["total"] as? Int == 1 && (beyond["workers"] as? [Any])?.isEmpty == true)
      let filtered = try await http(.GET, "\(fixture.base)/v1/workers?q=STREAMER", headers: auth).json
      #expect(filtered["total"] as? Int == 1)
      let none = try await http(.GET, "\(fixture.base)/v1/workers?q=nobody", headers: auth).json
      #expect(none["total"] as? Int == 0)
      let bad = try await http(.GET, "\(fixture.base)/v1/workers?limit=0", headers: auth)
      #expect(bad.status == 400)
      #expect(bad.json["message"] as? String == "limit '0' is not a number in 1...500")
    }
  }
}
