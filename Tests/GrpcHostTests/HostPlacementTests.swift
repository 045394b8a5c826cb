import AgentCore
import AgentWire
import Foundation
import GRPCCore
@testable import GrpcHost
import SwiftProtobuf
import Testing

@Suite("Host: several workers per agent type", .timeLimit(.minutes(1)))
struct HostPlacementTests {
  /// Sends an RPC to svc/key and answers it on whichever worker receives it; returns that worker's client id.
  static func whoServes(_ key: String, caller: RawWorker) async throws -> String {
    let id = "q-\(key)-\(UUID().uuidString)"
    caller.send(.request(id: id, target: try AgentId(type: "svc", key: key)))
    let response = try #require(try await caller.next().responseValue)
    #expect(response.requestID == id)
    #expect(response.error.isEmpty, "\(response.error)")
    return String(decoding: response.payload.data, as: UTF8.self)
  }

  /// Answers every request on `worker` with its client id, until cancelled.
  static func serve(_ worker: RawWorker) async {
    while let message = try? await worker.inboxNextOrEnd(timeout: .seconds(30)) {
      guard let request = message.requestValue else { continue }
      worker.send(.with {
        $0.response = .with {
          $0.requestID = request.requestID
          $0.payload.data = Data(worker.clientId.utf8)
        }
      })
    }
  }

  @Test("placement is sticky per key, spreads across workers, and fails over when a worker leaves")
  func placement() async throws {
    try await withTestHost { host, address in
      try await withRawWorker(address, clientId: "w2") { w2 in
        try await w2.register("svc")
        try await withRawWorker(address) { caller in
          try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await Self.serve(w2) }
            let firstPlacement = try await withRawWorker(address, clientId: "w1") { w1 in
              try await w1.register("svc")
              return try await withThrowingTaskGroup(of: Void.self, returning: [String: String].self) { inner in
                inner.addTask { await Self.serve(w1) }
                var placement: [String: String] = [:]
                for key in ["k1", "k2", "k3", "k4"] {
                  placement[key] = try await Self.whoServes(key, caller: caller)
                }
                // Sticky: asking again goes to the same worker.
                for key in ["k1", "k2", "k3", "k4"] {
                  #expect(try await Self.whoServes(key, caller: caller) == placement[key])
                }
                inner.cancelAll()
                return placement
              }
            }
            // Spread: both workers held two instances.
            #expect(firstPlacement.values.filter { $0 == "w1" }.count == 2)
            #expect(firstPlacement.values.filter { $0 == "w2" }.count == 2)
            // w1 left: its instances move to w2, w2's stay.
            #expect(await host.router.waitUntil(timeout: .seconds(10)) { !$0.connectedClients.contains("w1") })
            for key in ["k1", "k2", "k3", "k4"] {
              #expect(try await Self.whoServes(key, caller: caller) == "w2")
            }
            group.cancelAll()
          }
        }
      }
    }
  }

  @Test("a publish reaches each agent instance once, on the worker holding it")
  func publishOncePerInstance() async throws {
    try await withTestHost { _, address in
      try await withRawWorker(address, clientId: "w1") { w1 in
        try await withRawWorker(address, clientId: "w2") { w2 in
          // Both serve "svc" with the same subscription content (allowed across workers).
          for worker in [w1, w2] {
            try await worker.register("svc")
            try await worker.subscribe(.defaultTopic, agentType: "svc")
          }
          // w1 also serves "solo", subscribed to the same topic.
          try await w1.register("solo")
          try await w1.subscribe(.defaultTopic, agentType: "solo")
          try await w1.barrier()
          try await w2.barrier()

          var received: [String: [Io_Cloudevents_V1_CloudEvent]] = ["w1": [], "w2": []]
          for key in ["a", "b", "c", "d"] {
            try w1.publish(.default(source: key), text: key, id: "e-\(key)")
          }
          // Collect until both barriers prove everything was routed.
          try await w1.barrier(collectingInto: &received["w1"]!)
          try await w2.barrier(collectingInto: &received["w2"]!)

          // Every key's svc instance is on exactly one worker.
          let svcOn1 = Set(received["w1"]!.filter { $0.recipientTypes.contains("svc") }.map(\.source))
          let svcOn2 = Set(received["w2"]!.filter { $0.recipientTypes.contains("svc") }.map(\.source))
          #expect(svcOn1.isDisjoint(with: svcOn2))
          #expect(svcOn1.union(svcOn2) == ["a", "b", "c", "d"])
          #expect(!svcOn1.isEmpty && !svcOn2.isEmpty)
          // solo lives on w1 only and gets every key once.
          let soloOn1 = received["w1"]!.filter { $0.recipientTypes.contains("solo") }.map(\.source)
          #expect(soloOn1.sorted() == ["a", "b", "c", "d"])
          // One copy per worker per event.
          #expect(received["w1"]!.count == 4)
          #expect(received["w2"]!.count == svcOn2.count)
          // The hint appears only where w1 must skip svc.
          for event in received["w1"]! where !svcOn1.contains(event.source) {
            #expect(event.stringAttribute("agrecipienttypes") == "solo")
          }
          for event in received["w2"]! {
            #expect(event.stringAttribute("agrecipienttypes") == nil)
          }
        }
      }
    }
  }
}

extension Io_Cloudevents_V1_CloudEvent {
  /// The types this copy is for: the hint when present, otherwise every type (marked "*").
  var recipientTypes: Set<String> {
    guard let hint = stringAttribute("agrecipienttypes") else { return ["svc", "solo"] }
    return Set(hint.split(separator: ",").map(String.init))
  }
}

extension RawWorker {
  /// Runs a barrier, collecting the events that arrive before it.
  func barrier(collectingInto events: inout [Io_Cloudevents_V1_CloudEvent]) async throws {
    let id = "barrier-\(UUID().uuidString)"
    send(.request(id: id, target: try AgentId(type: "no.such.type", key: "x")))
    while true {
      let message = try await next()
      if let response = message.responseValue, response.requestID == id { return }
      if let event = message.eventValue { events.append(event) }
    }
  }
}
