import AgentCore
import AgentWire
import Foundation
import GRPCCore
@testable import GrpcHost
import SwiftProtobuf
import Testing

/// A small deterministic generator, so a failing run can be replayed.
struct SplitMix64: RandomNumberGenerator {
  var state: UInt64
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// Runs alone (scripts/test.sh sets AGENTS_FUZZ=1 for a separate step), so its load cannot slow the
/// timing-sensitive suites that run in parallel.
@Suite(
  "Host: fuzzing", .timeLimit(.minutes(3)),
  .enabled(if: ProcessInfo.processInfo.environment["AGENTS_FUZZ"] == "1", "set AGENTS_FUZZ=1 (scripts/test.sh does)"))
struct HostFuzzTests {
  static let wellFormedFrames = 95_000
  static let garbageFrames = 5_000
  static let streams = 8

  /// A well-formed `agents.Message` of the wrong shape: nothing the host should route to a worker.
  static func wrongShape(_ random: inout SplitMix64) -> Agents_Message {
    func text(_ count: Int) -> String {
      String((0..<count).map { _ in Character(Unicode.Scalar(UInt8.random(in: 0x20...0x7E, using: &random))) })
    }
    // One frame in a thousand has huge fields; the rest are small and varied.
    let kind = Int.random(in: 0..<1000, using: &random) == 0 ? 7 : [0, 1, 2, 3, 4, 5, 6, 8].randomElement(using: &random)!
    switch kind {
    case 0: return .with { $0.request = .with { $0.requestID = text(8) } }  // no target
    case 1:  // invalid target type
      return .with { $0.request = .with { $0.requestID = text(4); $0.target = .with { $0.type = text(12) + " /"; $0.key = text(4) } } }
    case 2: return .request(id: text(6), target: try! AgentId(type: "fuzz.nobody", key: text(3)))  // unserved type
    case 3: return .response(to: text(10), text: text(20))  // nobody asked
    case 4: return .with { $0.cloudEvent = .with { $0.id = text(5); $0.type = text(6) + " ?" } }  // invalid topic type
    case 5:  // a topic nobody subscribes to, with many attributes
      return .with {
        $0.cloudEvent = .with {
          $0.id = text(5)
          $0.type = "fuzz.unsubscribed"
          $0.source = text(8)
          for index in 0..<50 { $0.attributes["a\(index)"] = .with { $0.ceString = text(16) } }
          $0.binaryData = Data(text(64).utf8)
        }
      }
    case 6: return Agents_Message()  // no case set
    case 7:  // huge fields
      return .with {
        $0.request = .with {
          $0.requestID = text(4)
          $0.target = .with { $0.type = "fuzz.nobody"; $0.key = String(repeating: "k", count: 256 * 1024) }
          $0.payload.data = Data(count: 256 * 1024)
        }
      }
    default:  // a response carrying an error for an id nobody used
      return .with { $0.response = .with { $0.requestID = text(3); $0.error = text(40) } }
    }
  }

  /// Garbage bytes: random, truncated or bit-flipped encodings of real messages.
  static func garbage(_ random: inout SplitMix64) -> [UInt8] {
    var bytes: [UInt8] = (try? wrongShape(&random).serializedBytes()) ?? []
    switch Int.random(in: 0..<3, using: &random) {
    case 0: return (0..<Int.random(in: 0...64, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
    case 1: return Array(bytes.prefix(Int.random(in: 0...max(0, bytes.count - 1), using: &random)))
    default:
      if !bytes.isEmpty { bytes[Int.random(in: 0..<bytes.count, using: &random)] ^= UInt8.random(in: 1...255, using: &random) }
      return bytes
    }
  }

  @Test("100,000 random and mutated frames: the host stays up and other workers still exchange messages")
  func fuzz() async throws {
    try await withTestHost(rpcTimeout: .seconds(5)) { host, address in
      try await withRawWorker(address, clientId: "callee") { callee in
        try await callee.register("svc")
        try await callee.subscribe(.defaultTopic, agentType: "svc")

        // Well-formed frames of the wrong shape, on long-lived streams; each stream ends with a
        // barrier proving the host handled every frame before it.
        try await withThrowingDiscardingTaskGroup { group in
          for stream in 0..<Self.streams {
            group.addTask {
              try await withRawWorker(address) { fuzzer in
                var random = SplitMix64(state: UInt64(stream))
                for _ in 0..<(Self.wellFormedFrames / Self.streams) { fuzzer.send(Self.wrongShape(&random)) }
                try await fuzzer.barrier(ignoringOthers: true)
              }
            }
          }
        }

        // Garbage, each frame on its own stream (a malformed frame ends its stream).
        let refused = try await withGRPCClient(address) { client in
          try await withThrowingTaskGroup(of: Int.self) { group in
            for lane in 0..<Self.streams {
              group.addTask {
                var refused = 0
                var random = SplitMix64(state: 1_000 + UInt64(lane))
                for index in 0..<(Self.garbageFrames / Self.streams) {
                  let bytes = Self.garbage(&random)
                  do {
                    try await client.bidirectionalStreaming(
                      request: StreamingClientRequest<[UInt8]>(metadata: ["client-id": "garbage-\(lane)-\(index)"]) { writer in
                        try await writer.write(bytes)
                      },
                      descriptor: Agents_AgentRpc.Method.OpenChannel.descriptor,
                      serializer: RawBytes(), deserializer: RawBytes(), options: .defaults
                    ) { response in
                      for try await _ in response.messages {}
                    }
                  } catch {
                    refused += 1
                  }
                }
                return refused
              }
            }
            return try await group.reduce(0, +)
          }
        }
        // Most garbage is refused with an error status; the rest happened to decode.
        #expect(refused > Self.garbageFrames / 2, "\(refused) of \(Self.garbageFrames) refused")

        // Afterwards: the host is alive and healthy, has nothing pending, and two workers still talk.
        #expect(await host.router.waitUntil(timeout: .seconds(10)) { $0.pendingRPCs == 0 && $0.connectedClients == ["callee"] })
        #expect(try await healthStatus(address) == .serving)
        try await withRawWorker(address) { caller in
          caller.send(.request(id: "after", target: try AgentId(type: "svc", key: "k")))
          let request = try #require(try await callee.next().requestValue)
          callee.send(.response(to: request.requestID, text: "still here"))
          let response = try #require(try await caller.next().responseValue)
          #expect(response.requestID == "after" && response.error.isEmpty)
          try caller.publish(.default(source: "k"), text: "published after fuzzing", id: "e-after")
          #expect(try await callee.next().eventValue?.id == "e-after")
        }
      }
    }
  }
}

extension RawWorker {
  /// A barrier that skips whatever else arrives first (the host's answers to fuzz frames).
  func barrier(ignoringOthers: Bool) async throws {
    let id = "barrier-\(UUID().uuidString)"
    send(.request(id: id, target: try AgentId(type: "no.such.type", key: "x")))
    while true {
      let message = try await next(timeout: .seconds(60))
      if let response = message.responseValue, response.requestID == id { return }
    }
  }
}
