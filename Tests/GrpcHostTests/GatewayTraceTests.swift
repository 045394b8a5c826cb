import AgentCore
import AgentWire
import Foundation
import GRPCCore
@testable import GrpcHost
import NIOHTTP1
import SwiftProtobuf
import Testing

/// The gateway passes a caller's W3C trace context on to the agent it reaches, so that the
/// handler's span joins the caller's trace: `traceparent`/`tracestate` from HTTP headers or gRPC
/// metadata go into the `RpcRequest`'s metadata or the published CloudEvent's attributes.
@Suite("Gateway: trace context passed on", .timeLimit(.minutes(1)))
struct GatewayTraceTests {
  static let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

  @Test("HTTP call (plain and streamed), HTTP publish and gRPC Invoke carry the caller's traceparent to the agent")
  func passedOn() async throws {
    try await withGateway { fixture in
      try await withRawWorker(fixture.grpc) { worker in
        try await worker.register("traced")
        try await worker.subscribe(.type("traced.events"), agentType: "traced")
        let headers = [("traceparent", Self.traceparent), ("tracestate", "vendor=1")]
        async let call = http(.POST, "\(fixture.base)/v1/agents/traced/k?type=Text", body: #"{"text":"hi"}"#, headers: headers)
        let request = try #require(try await worker.next().requestValue)
        #expect(request.metadata["traceparent"] == Self.traceparent)
        #expect(request.metadata["tracestate"] == "vendor=1")
        worker.send(.response(to: request.requestID, text: "ok"))
        #expect(try await call.status == 200)

        async let streamed = openStream(.POST, "\(fixture.base)/v1/agents/traced/k?type=Text", body: #"{"text":"hi"}"#, headers: headers)
        let streamedRequest = try #require(try await worker.next().requestValue)
        #expect(streamedRequest.metadata["traceparent"] == Self.traceparent)
        worker.send(.response(to: streamedRequest.requestID, text: "ok"))
        _ = try await streamed

        let published = try await http(.POST, "\(fixture.base)/v1/topics/traced.events/s?type=Text", body: #"{"text":"hi"}"#, headers: headers)
        #expect(published.status == 202)
        let event = try await worker.next()
        guard case .cloudEvent(let cloudEvent)? = event.message else {
          Issue.record("expected the published event, got \(event)")
          return
        }
        #expect(cloudEvent.attributes["traceparent"]?.ceString == Self.traceparent)

        try await withGatewayClient(fixture) { gateway in
          async let answer = gateway.invoke(
            .with { $0.agentType = "traced"; $0.agentKey = "k"; $0.message = jsonPayload("Text", #"{"text":"hi"}"#) },
            metadata: ["traceparent": .string(Self.traceparent)])
          let grpcRequest = try #require(try await worker.next().requestValue)
          #expect(grpcRequest.metadata["traceparent"] == Self.traceparent)
          worker.send(.response(to: grpcRequest.requestID, text: "ok"))
          _ = try await answer
        }
        // Without the header, nothing is added.
        async let plain = http(.POST, "\(fixture.base)/v1/agents/traced/k?type=Text", body: #"{"text":"hi"}"#)
        let plainRequest = try #require(try await worker.next().requestValue)
        #expect(plainRequest.metadata["traceparent"] == nil)
        worker.send(.response(to: plainRequest.requestID, text: "ok"))
        _ = try await plain
      }
    }
  }
}
