import AgentCore
import Synchronization
import Testing

struct ChatMessage: Codable, Sendable, Equatable {
  var text: String
}

struct ChatReply: Codable, Sendable, Equatable {
  var text: String
}

struct Ping: Codable, Sendable, Equatable {
  var hops: Int
}

struct Boom: Error, CustomStringConvertible {
  var description: String { "boom: the handler failed on purpose" }
}

/// Collects what agents observed; tests await a number of entries with a bounded timeout.
final class Recorder<Entry: Sendable>: Sendable {
  private let entries = Mutex<[Entry]>([])
  private let changes: AsyncStream<Void>
  private let continuation: AsyncStream<Void>.Continuation

  init() {
    (changes, continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
  }

  func record(_ entry: Entry) {
    entries.withLock { $0.append(entry) }
    continuation.yield()
  }

  var all: [Entry] { entries.withLock { $0 } }

  /// Waits until at least `count` entries are recorded; fails the test after `timeout`.
  func waitFor(count: Int, timeout: Duration = .seconds(10)) async throws -> [Entry] {
    try await withThrowingTaskGroup(of: [Entry]?.self) { group in
      group.addTask {
        for await _ in self.changes {
          let current = self.all
          if current.count >= count { return current }
        }
        return nil
      }
      group.addTask {
        try await Task.sleep(for: timeout)
        return nil
      }
      continuation.yield()  // check what is already there
      let result = try await group.next()!
      group.cancelAll()
      guard let result else {
        Issue.record("timed out after \(timeout) waiting for \(count) entries; have \(all.count): \(all)")
        throw CancellationError()
      }
      return result
    }
  }
}
