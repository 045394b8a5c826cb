import AgentCore
import AgentWire
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SwiftProtobuf
import Synchronization

/// Proves the host routes to `channel` (registered as `type`): a request to its own type comes
/// back to it through the host, and it answers.
func barrier(_ channel: BenchChannel, type: String, iterator: inout AsyncStream<ChannelFrame>.Iterator) async throws {
  let id = "barrier-\(UUID().uuidString)"
  channel.send(.request(RawRpcRequest(.with {
    $0.requestID = id
    $0.target = .with {
      $0.type = type
      $0.key = "barrier"
    }
    $0.payload = .with {
      $0.dataType = "Barrier"
      $0.dataContentType = "application/json"
      $0.data = Data("{}".utf8)
    }
  })))
  while let frame = await iterator.next() {
    switch frame {
    case .request(let request):
      channel.send(.response(RawRpcResponse(requestId: request.requestId, rest: echoPayload)))
    case .response(let response) where response.requestId == id:
      let decoded = try response.decoded()
      guard decoded.error.isEmpty else { throw BenchError(description: "barrier failed: \(decoded.error)") }
      return
    default:
      continue
    }
  }
  throw BenchError(description: "channel closed during barrier")
}

/// The payload field (number 2) of an echo response, encoded once.
let echoPayload: [UInt8] = try! Agents_RpcResponse.with { $0.payload = payload(0) }.serializedBytes()

/// A small JSON message like an agent chat message (~100 bytes of payload).
func payload(_ index: Int) -> Agents_Payload {
  .with {
    $0.dataType = "BenchMessage"
    $0.dataContentType = "application/json"
    $0.data = Data(#"{"index":\#(index),"text":"benchmark message padding padding padding padding padding padding padding"}"#.utf8)
  }
}

struct PublishResult: Codable, Sendable {
  var messages: Int
  var received: Int
  var duplicates: Int
  var missing: Int
  var seconds: Double
  var messagesPerSecond: Double
  var hostPeakRSSBytes: Int?
}

/// `count` CloudEvents from one worker to an agent on another, first send to last receipt. With
/// `sinkAddress`, the receiving worker connects there (another node of a cluster). With `rate`,
/// the publisher sends that many per second (in bursts a millisecond apart) instead of as fast as
/// it can.
func publishThroughput(
  address: HostAddress, sinkAddress: HostAddress? = nil, hostPid: Int32?, count: Int, rate: Int? = nil
) async throws -> PublishResult {
  try await withBenchClient(sinkAddress ?? address) { sinkRPC in
    try await withBenchClient(address) { publisherRPC in
      try await withBenchChannel(sinkRPC, clientId: "bench-sink-\(UUID().uuidString)") { sink in
        try await withBenchChannel(publisherRPC, clientId: "bench-publisher-\(UUID().uuidString)") { publisher in
          var inbound = sink.inbound.makeAsyncIterator()
          try await sink.register("bench_sink")
          try await sink.subscribe(topicType: "bench.topic", agentType: "bench_sink")
          try await barrier(sink, type: "bench_sink", iterator: &inbound)

          let events: [ChannelFrame] = try (0..<count).map { index in
            let event = Io_Cloudevents_V1_CloudEvent.with {
                $0.id = String(index)
                $0.source = "sink"
                $0.type = "bench.topic"
                $0.specVersion = "1.0"
                let data = payload(index)
                $0.attributes["datacontenttype"] = .with { $0.ceString = data.dataContentType }
                $0.attributes["dataschema"] = .with { $0.ceString = data.dataType }
                $0.attributes["agmsgkind"] = .with { $0.ceString = "publish" }
                $0.attributes["agagentsendertype"] = .with { $0.ceString = "unknown" }
                $0.attributes["agagentsenderkey"] = .with { $0.ceString = "unknown" }
                $0.binaryData = data.data
            }
            return .event(try RawCloudEvent(bytes: try event.serializedBytes()))
          }
          let memory = MemorySampler()
          let progress = PublishProgress(probed: sinkAddress == nil)
          return await withTaskGroup(of: PublishResult?.self) { group in
            if let hostPid {
              group.addTask {
                while memory.sampling.load(ordering: .relaxed) {
                  if let rss = residentBytes(pid: hostPid) { memory.raisePeak(to: rss) }
                  try? await Task.sleep(for: .milliseconds(20))
                }
                return nil
              }
            }
            group.addTask {
              // On another node, the sink's subscription reaches the publisher's node through the
              // cluster's directory: probes (which the count skips) until one arrives.
              var attempt = 0
              while !progress.probed.load(ordering: .acquiring) {
                attempt += 1
                publisher.send(probeEvent(attempt))
                try? await Task.sleep(for: .milliseconds(100))
              }
              progress.firstSend.store(now(), ordering: .releasing)
              guard let rate, rate > 0 else {
                for event in events { publisher.send(event) }
                return nil
              }
              let start = ContinuousClock.now
              let burst = max(1, rate / 1_000)
              var sent = 0
              while sent < events.count {
                let due = start + .nanoseconds(Int64(sent) * 1_000_000_000 / Int64(rate))
                if ContinuousClock.now < due { try? await Task.sleep(until: due, clock: .continuous) }
                for event in events[sent..<min(sent + burst, events.count)] { publisher.send(event) }
                sent += burst
              }
              return nil
            }
            var seen = [Bool](repeating: false, count: count)
            var received = 0
            var duplicates = 0
            var last = now()
            while received + duplicates < count, let frame = await inbound.next() {
              guard case .event(let event) = frame else { continue }
              if event.id.hasPrefix("probe-") {
                progress.probed.store(true, ordering: .releasing)
                continue
              }
              guard let index = Int(event.id), index < count else { continue }
              if seen[index] { duplicates += 1 } else { seen[index] = true; received += 1 }
              last = now()
            }
            memory.sampling.store(false, ordering: .relaxed)
            let seconds = Double(last - progress.firstSend.load(ordering: .acquiring)) / 1e9
            return PublishResult(
              messages: count, received: received, duplicates: duplicates, missing: count - received,
              seconds: seconds, messagesPerSecond: Double(received) / seconds,
              hostPeakRSSBytes: hostPid == nil ? nil : memory.peak.load(ordering: .relaxed))
          }
        }
      }
    }
  }
}

/// A probe publish to the sink (its id says so: the measurement skips it).
func probeEvent(_ attempt: Int) -> ChannelFrame {
  let probe = Io_Cloudevents_V1_CloudEvent.with {
    $0.id = "probe-\(attempt)"
    $0.source = "sink"
    $0.type = "bench.topic"
    $0.specVersion = "1.0"
    $0.attributes["datacontenttype"] = .with { $0.ceString = "application/json" }
    $0.attributes["dataschema"] = .with { $0.ceString = "Probe" }
    $0.binaryData = Data("{}".utf8)
  }
  return .event(try! RawCloudEvent(bytes: try! probe.serializedBytes()))
}

/// Where the publishing side of a throughput run is: whether a probe reached the sink, and when
/// the first counted event was sent.
final class PublishProgress: Sendable {
  let probed: Atomic<Bool>
  let firstSend = Atomic<UInt64>(0)

  init(probed: Bool) {
    self.probed = Atomic(probed)
  }
}

/// The host's peak resident memory while a workload runs.
final class MemorySampler: Sendable {
  let peak = Atomic<Int>(0)
  let sampling = Atomic<Bool>(true)

  func raisePeak(to value: Int) {
    var current = peak.load(ordering: .relaxed)
    while value > current {
      let (exchanged, original) = peak.compareExchange(expected: current, desired: value, ordering: .relaxed)
      if exchanged { return }
      current = original
    }
  }
}

struct RPCResult: Codable, Sendable {
  var callers: Int
  var calls: Int
  var errors: Int
  var seconds: Double
  var callsPerSecond: Double
  var p50Microseconds: Double
  var p99Microseconds: Double
}

/// `callers` workers each making sequential RPCs to an echo agent on another worker (connected to
/// `calleeAddress`: another node of a cluster, when given). With `newKeys`, every call goes to a
/// new agent instance (each one a placement).
func rpcLatency(
  address: HostAddress, calleeAddress: HostAddress? = nil, callers: Int, callsPerCaller: Int, newKeys: Bool = false
) async throws -> RPCResult {
  try await withEchoWorker(calleeAddress ?? address) {
    if calleeAddress != nil { try await waitUntilRouted(address) }
    return try await measureCalls(callers: callers) {
      try await withBenchClient(address) { callerRPC in
        try await withThrowingTaskGroup(of: ([UInt64], Int).self) { callersGroup in
          for caller in 0..<callers {
            callersGroup.addTask {
              try await callSequentially(callerRPC, caller: caller, calls: callsPerCaller, newKeys: newKeys)
            }
          }
          var all: [([UInt64], Int)] = []
          for try await result in callersGroup { all.append(result) }
          return all
        }
      }
    }
  }
}

/// Runs `body` while a worker serves agent type `bench_echo`, answering every request with
/// ``echoPayload``; `body` starts once the host routes to it.
func withEchoWorker<R: Sendable>(_ address: HostAddress, _ body: @Sendable () async throws -> R) async throws -> R {
  try await withBenchClient(address) { echoRPC in
    try await withBenchChannel(echoRPC, clientId: "bench-echo-\(UUID().uuidString)") { echo in
      try await echo.register("bench_echo")
      let (ready, readyContinuation) = AsyncStream<Void>.makeStream()
      return try await withThrowingTaskGroup(of: Void.self) { group in
        // The echo worker proves it is routed to, then answers every request with its payload.
        group.addTask {
          var inbound = echo.inbound.makeAsyncIterator()
          try await barrier(echo, type: "bench_echo", iterator: &inbound)
          readyContinuation.finish()
          while let frame = await inbound.next() {
            guard case .request(let request) = frame else { continue }
            echo.send(.response(RawRpcResponse(requestId: request.requestId, rest: echoPayload)))
          }
        }
        defer { group.cancelAll() }
        for await _ in ready {}
        return try await body()
      }
    }
  }
}

/// Times `run`, which returns each caller's latencies (nanoseconds) and error count.
func measureCalls(callers: Int, _ run: () async throws -> [([UInt64], Int)]) async throws -> RPCResult {
  let started = now()
  let perCaller = try await run()
  let seconds = Double(now() - started) / 1e9
  let latencies = perCaller.flatMap(\.0).sorted()
  func percentile(_ p: Double) -> Double {
    guard !latencies.isEmpty else { return 0 }
    return Double(latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]) / 1000
  }
  return RPCResult(
    callers: callers, calls: latencies.count, errors: perCaller.map(\.1).reduce(0, +), seconds: seconds,
    callsPerSecond: Double(latencies.count) / seconds, p50Microseconds: percentile(0.50),
    p99Microseconds: percentile(0.99))
}

/// Calls `bench_echo` through the host at `address` until one call is answered: on another node
/// of a cluster, the echo worker's type reaches that node through the directory.
func waitUntilRouted(_ address: HostAddress) async throws {
  let deadline = ContinuousClock.now + .seconds(30)
  while true {
    let (_, errors) = try await withBenchClient(address) { rpc in
      try await callSequentially(rpc, caller: -1, calls: 1, newKeys: false)
    }
    if errors == 0 { return }
    guard ContinuousClock.now < deadline else { throw BenchError(description: "bench_echo not routed from \(address) within 30 s") }
    try await Task.sleep(for: .milliseconds(100))
  }
}

private func callSequentially(
  _ rpc: BenchClient, caller: Int, calls: Int, newKeys: Bool
) async throws -> ([UInt64], Int) {
  try await withBenchChannel(rpc, clientId: "bench-caller-\(caller)-\(UUID().uuidString)") { channel in
    var inbound = channel.inbound.makeAsyncIterator()
    var latencies: [UInt64] = []
    latencies.reserveCapacity(calls)
    var errors = 0
    var request = RawRpcRequest(.with {
      $0.target = .with {
        $0.type = "bench_echo"
        $0.key = "k\(caller)"
      }
      $0.payload = payload(caller)
    })
    for call in 0..<calls {
      // Unique across callers: AutoGen's host mixes up equal ids (its issue #7016).
      let id = "\(caller)-\(call)"
      if newKeys {
        let key = "new-\(caller)-\(call)-\(UUID().uuidString.prefix(8))"
        request = RawRpcRequest(.with {
          $0.target = .with {
            $0.type = "bench_echo"
            $0.key = key
          }
          $0.payload = payload(caller)
        })
      }
      request.requestId = id
      let started = now()
      channel.send(.request(request))
      var answered = false
      while let frame = await inbound.next() {
        guard case .response(let response) = frame, response.requestId == id else { continue }
        if response.rest != echoPayload, (try? response.decoded().error.isEmpty) != true { errors += 1 }
        answered = true
        break
      }
      guard answered else { throw BenchError(description: "caller \(caller): channel closed") }
      latencies.append(now() - started)
    }
    return (latencies, errors)
  }
}

struct MemoryResult: Codable, Sendable {
  var idleRSSBytes: Int?
  var idleWorkers: Int
  var idleWorkersRSSBytes: Int?
  /// Why the idle-workers figure is missing, when it is.
  var idleWorkersError: String?
}

/// Opens `workers` channels (`perConnection` per connection), each registering an agent type and a
/// subscription, and measures the host's memory once every one is routed to.
func idleWorkersMemory(address: HostAddress, hostPid: Int32?, workers: Int, perConnection: Int) async throws -> Int? {
  try await withIdleWorkers(address: address, workers: workers, perConnection: perConnection) {
    hostPid.flatMap(residentBytes(pid:))
  }
}

/// Runs `body` while `workers` idle workers are connected (`perConnection` channels per
/// connection), each having registered an agent type `T`, a type subscription and, with
/// `directMessagePrefix`, the `"T:"` prefix subscription AutoGen's workers add for each type. Every
/// worker is proven routed to (a round trip) before `body` starts.
func withIdleWorkers<R: Sendable>(
  address: HostAddress, workers: Int, perConnection: Int, directMessagePrefix: Bool = false,
  _ body: @Sendable () async throws -> R
) async throws -> R {
  guard workers > 0 else { return try await body() }
  let connections = (workers + perConnection - 1) / perConnection
  let (allReady, allReadyContinuation) = AsyncStream<Result<Void, any Error>>.makeStream()
  let release = OneShot<Void>()
  return try await withThrowingTaskGroup(of: R?.self) { group in
    for connection in 0..<connections {
      let count = min(perConnection, workers - connection * perConnection)
      group.addTask {
        try await withBenchClient(address) { rpc in
          try await withThrowingDiscardingTaskGroup { channels in
            for index in 0..<count {
              channels.addTask {
                let worker = connection * perConnection + index
                try await withBenchChannel(rpc, clientId: "bench-idle-\(worker)-\(UUID().uuidString)") { channel in
                  do {
                    let type = "bench_idle_\(worker)"
                    try await channel.register(type)
                    try await channel.subscribe(topicType: "bench.idle.\(worker)", agentType: type)
                    if directMessagePrefix { try await channel.subscribe(topicTypePrefix: type + ":", agentType: type) }
                    var inbound = channel.inbound.makeAsyncIterator()
                    try await barrier(channel, type: type, iterator: &inbound)
                    allReadyContinuation.yield(.success(()))
                  } catch {
                    allReadyContinuation.yield(.failure(error))
                    throw error
                  }
                  _ = try? await release.value()
                }
              }
            }
          }
        }
        return nil
      }
    }
    var ready = 0
    for await result in allReady {
      if case .failure(let error) = result {
        release.resolve(.success(()))
        throw error
      }
      ready += 1
      if ready == workers { break }
    }
    let result: Result<R, any Error>
    do {
      result = .success(try await body())
    } catch {
      result = .failure(error)
    }
    release.resolve(.success(()))
    for try await _ in group {}
    return try result.get()
  }
}
