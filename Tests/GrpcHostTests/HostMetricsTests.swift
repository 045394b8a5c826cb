import AgentCore
import AgentWire
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
@testable import GrpcHost
import Logging
import Testing

@Suite("Host: Prometheus metrics", .timeLimit(.minutes(1)))
struct HostMetricsTests {
  func get(_ url: String) async throws -> (status: Int, body: String) {
    var request = URLRequest(url: URL(string: url)!)
    request.timeoutInterval = 10
    let (data, response) = try await URLSession.shared.data(for: request)
    return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
  }

  @Test("a scrape after traffic shows workers, types, routed messages, failures and RPC latency")
  func scrape() async throws {
    var logger = Logger(label: "test.host")
    logger.logLevel = .error
    var configuration = AgentHost.Configuration(address: HostAddress(host: "127.0.0.1", port: 0))
    configuration.metricsAddress = HostAddress(host: "127.0.0.1", port: 0)
    configuration.maxMessageSize = 64 * 1024
    try await withAgentHost(configuration: configuration, logger: logger) { host in
      let address = try await host.listeningAddress()
      let metrics = try await host.metricsAddress()
      #expect(metrics.port != 0 && metrics.port != address.port)
      try await withRawWorker(address) { callee in
        try await callee.register("svc")
        try await callee.subscribe(.type("news"), agentType: "svc")
        try await withRawWorker(address) { caller in
          for index in 0..<3 { try caller.publish(TopicId(type: "news", source: "s"), text: "\(index)") }
          for _ in 0..<3 { _ = try #require(try await callee.next().eventValue) }
          caller.send(.request(id: "ok", target: try AgentId(type: "svc", key: "k")))
          let request = try #require(try await callee.next().requestValue)
          callee.send(.response(to: request.requestID, text: "fine"))
          #expect(try await caller.next().responseValue?.requestID == "ok")
          caller.send(.request(id: "huge", target: try AgentId(type: "svc", key: "k"), text: String(repeating: "x", count: 100_000)))
          #expect(try await caller.next().responseValue?.requestID == "huge")
          // A barrier is an RPC to a type nobody serves: with the callee's in register(), two
          // failed RPCs, plus the oversized one.
          try await caller.barrier()

          let (status, text) = try await get("http://\(metrics.host):\(metrics.port)/metrics")
          #expect(status == 200)
          let lines = Set(text.split(separator: "\n").map(String.init))
          for expected in [
            #"agents_host_messages_routed_total{kind="event"} 3"#,
            #"agents_host_messages_routed_total{kind="request"} 1"#,
            #"agents_host_messages_routed_total{kind="response"} 1"#,
            "agents_host_event_deliveries_total 3",
            "agents_host_rpcs_failed_total 3",
            "agents_host_rpcs_timed_out_total 0",
            "agents_host_oversized_frames_total 1",
            "agents_host_connected_workers 2.0",
            "agents_host_registered_agent_types 1.0",
            "agents_host_rpcs_pending 0.0",
            "agents_host_rpc_duration_seconds_count 1",
          ] {
            #expect(lines.contains(expected), "missing '\(expected)' in:\n\(text)")
          }
          #expect(text.contains("# HELP agents_host_rpc_duration_seconds"))
        }
      }
      let (missing, _) = try await get("http://\(metrics.host):\(metrics.port)/other")
      #expect(missing == 404)
    }
  }

  @Test("without httpAddress there is no HTTP listener, and asking for it says so")
  func disabled() async throws {
    try await withTestHost { host, _ in
      let error = await #expect(throws: AgentRuntimeError.self) { try await host.metricsAddress() }
      #expect(error?.message.contains("httpAddress is not set") == true)
      #expect(host.metricsText().contains("agents_host_connected_workers 0.0"))
    }
  }
}
