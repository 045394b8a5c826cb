import AgentCore
import AgentWire
import Foundation
import GRPCCore
@testable import GrpcHost
import SwiftProtobuf
import Testing

@Suite("Host: publishing", .timeLimit(.minutes(1)))
struct HostPublishTests {
  @Test("type, prefix and default topics reach the subscribed workers, the publisher's own included")
  func routing() async throws {
    try await withTestHost { _, address in
      try await withRawWorker(address) { a in
        try await withRawWorker(address) { b in
          try await a.register("alpha")
          try await a.subscribe(.defaultTopic, agentType: "alpha")
          try await a.subscribe(.type("news"), agentType: "alpha")
          try await b.register("beta")
          try await b.subscribe(.defaultTopic, agentType: "beta")
          try await b.subscribe(.typePrefix("weather."), agentType: "beta")
          try await b.barrier()

          // Default: both workers, including the publisher's (a).
          try a.publish(.default(source: "room"), text: "d", id: "e1")
          for worker in [a, b] {
            let event = try #require(try await worker.next().eventValue)
            #expect(event.id == "e1" && event.type == "default" && event.source == "room")
            #expect(event.stringAttribute("agrecipienttypes") == nil)  // unchanged: exactly what was published
          }
          // Type: only a. Prefix: only b.
          try b.publish(try TopicId(type: "news", source: "s"), text: "n", id: "e2")
          try a.publish(try TopicId(type: "weather.rain", source: "s"), text: "w", id: "e3")
          #expect(try await a.next().eventValue?.id == "e2")
          #expect(try await b.next().eventValue?.id == "e3")
          // Nothing else arrived: barriers come back right after.
          try await a.barrier()
          try await b.barrier()
          // No subscriber: nobody gets it.
          try a.publish(try TopicId(type: "nobody.listens", source: "s"), text: "x")
          try await a.barrier()
          try await b.barrier()
        }
      }
    }
  }

  @Test("the CloudEvent arrives byte-for-byte as published")
  func eventUnchanged() async throws {
    try await withTestHost { _, address in
      try await withRawWorker(address) { a in
        try await a.register("alpha")
        try await a.subscribe(.defaultTopic, agentType: "alpha")
        try await a.barrier()
        var event = try Io_Cloudevents_V1_CloudEvent(PublishedEvent(
          topic: .default(source: "s"), sender: try AgentId(type: "alpha", key: "s"), messageId: "m",
          payload: SerializedPayload(typeName: "T", contentType: ContentType.json, data: Data("{}".utf8))))
        event.attributes["custom"] = .with { $0.ceInteger = 7 }
        a.send(.with { $0.cloudEvent = event })
        #expect(try await a.next().eventValue == event)
      }
    }
  }
}
