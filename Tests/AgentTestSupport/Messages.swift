public import AgentCore
import AgentRuntimeTesting
import ExampleAgents
import SwiftProtobuf
import Synchronization
import Testing

public struct ChatMessage: Codable, Sendable, Equatable {
  public var text: String
  public init(text: String) { self.text = text }
}

public struct ChatReply: Codable, Sendable, Equatable {
  public var text: String
  public init(text: String) { self.text = text }
}

public struct Ping: Codable, Sendable, Equatable {
  public var hops: Int
  public init(hops: Int) { self.hops = hops }
}

public struct Boom: Error, CustomStringConvertible {
  public init() {}
  public var description: String { "boom: the handler failed on purpose" }
}

/// Collects what agents observed; tests await a number of entries with a bounded timeout.
public final class Recorder<Entry: Sendable>: Sendable {
  private let entries = Mutex<[Entry]>([])
  private let changes = Broadcaster<Void>(bufferingPolicy: .bufferingNewest(1))

  public init() {}

  public func record(_ entry: Entry) {
    entries.withLock { $0.append(entry) }
    changes.yield(())
  }

  public var all: [Entry] { entries.withLock { $0 } }

  /// Waits until at least `count` entries are recorded; fails the test after `timeout`.
  public func waitFor(count: Int, timeout: Duration = .seconds(10)) async throws -> [Entry] {
    guard await waitUntil(changes.subscribe(startingWith: ()), within: timeout, { [self] _ in all.count >= count }) else {
      Issue.record("timed out after \(timeout) waiting for \(count) entries; have \(all.count): \(all)")
      throw CancellationError()
    }
    return all
  }
}

/// Every message type the shared tests put on the wire.
public let testSerializers: SerializationRegistry = {
  var registry = exampleSerializers
  registry.registerJSON(ChatMessage.self)
  registry.registerJSON(ChatReply.self)
  registry.registerJSON(Ping.self)
  registry.registerProtobuf(Google_Protobuf_StringValue.self)
  return registry
}()
