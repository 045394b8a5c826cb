import AgentCore
import Foundation
import Synchronization

/// The long-lived streams open under each credential (workers' channels, gateway topic streams),
/// so that a credentials reload closes those it no longer admits and an expiring token closes
/// its own.
///
/// When the credentials change (``revalidate(with:)``), each stream's credential is checked again:
/// - refused now (revoked token, removed identity, removed JWT key): the stream ends with
///   UNAUTHENTICATED, and a worker does not reconnect with it;
/// - admitted as an identity whose permissions changed: the stream ends with UNAVAILABLE, so that
///   its worker reconnects and registers under the new permissions;
/// - unchanged: nothing happens.
final class OpenStreams: Sendable {
  private struct Entry {
    var caller: Caller
    var end: @Sendable (AgentRuntimeError) -> Void
  }
  private struct State {
    var entries: [Int: Entry] = [:]
    var nextId = 0
    /// The earliest expiry among the entries, so that a sweep with nothing due is one comparison.
    var earliestExpiry: Date?
  }
  private let state = Mutex(State())
  private let authenticator: Authenticator

  init(authenticator: Authenticator) {
    self.authenticator = authenticator
  }

  /// A stream's place in the registry; ``close()`` it when the stream ends.
  struct Registration: Sendable {
    fileprivate let streams: OpenStreams
    fileprivate let id: Int

    /// Removes the stream (it ended). Idempotent.
    func close() { streams.remove(id) }
  }

  /// Records a stream that `end` closes with the error it is given; nil for no caller (an open
  /// host's callers have no credentials to revoke).
  ///
  /// When the credentials were replaced since `caller` was checked (a reload raced the stream's
  /// opening, and its sweep may have missed this entry), the caller is checked again here.
  func open(_ caller: Caller?, end: @escaping @Sendable (AgentRuntimeError) -> Void) async -> Registration? {
    guard let caller else { return nil }
    let id = state.withLock { state in
      state.nextId += 1
      state.entries[state.nextId] = Entry(caller: caller, end: end)
      if let expiry = caller.expiry, state.earliestExpiry.map({ expiry < $0 }) ?? true { state.earliestExpiry = expiry }
      return state.nextId
    }
    if caller.generation != authenticator.generation {
      _ = await revalidate([id: Entry(caller: caller, end: end)])
    }
    return Registration(streams: self, id: id)
  }

  fileprivate func remove(_ id: Int) {
    state.withLock { _ = $0.entries.removeValue(forKey: id) }
  }

  /// How many streams are open.
  var count: Int { state.withLock { $0.entries.count } }

  /// Checks every stream's credential again (after the credentials changed), ending those no
  /// longer admitted or whose permissions changed. Returns how many it ended.
  @discardableResult
  func revalidate() async -> Int {
    await revalidate(state.withLock { $0.entries })
  }

  private func revalidate(_ entries: [Int: Entry]) async -> Int {
    var ended = 0
    for (id, entry) in entries {
      let reason: AgentRuntimeError
      do {
        let now = try await authenticator.caller(entry.caller.credential)
        guard now.identity != entry.caller.identity else { continue }
        reason = AgentRuntimeError(
          code: .unavailable,
          message: "the permissions of identity '\(entry.caller.identity.name)' changed; reconnect to use the new ones")
      } catch {
        reason = AgentRuntimeError(
          code: .unauthenticated, message: "the credentials of identity '\(entry.caller.identity.name)' were revoked")
      }
      if state.withLock({ $0.entries.removeValue(forKey: id) }) != nil {
        entry.end(reason)
        ended += 1
      }
    }
    return ended
  }

  /// Ends the streams whose credential has expired by `now`.
  func endExpired(now: Date = Date()) {
    let expired = state.withLock { state -> [Entry] in
      guard let earliest = state.earliestExpiry, earliest <= now else { return [] }
      var expired: [Entry] = []
      var next: Date?
      for (id, entry) in state.entries {
        guard let expiry = entry.caller.expiry else { continue }
        if expiry <= now {
          expired.append(entry)
          state.entries.removeValue(forKey: id)
        } else if next.map({ expiry < $0 }) ?? true {
          next = expiry
        }
      }
      state.earliestExpiry = next
      return expired
    }
    for entry in expired {
      entry.end(AgentRuntimeError(code: .unauthenticated, message: "the token of identity '\(entry.caller.identity.name)' expired"))
    }
  }

  /// Ends expired streams every `interval` until cancelled.
  func runExpirySweeper(interval: Duration = .milliseconds(250)) async {
    while !Task.isCancelled {
      do { try await Task.sleep(for: interval) } catch { return }
      endExpired()
    }
  }
}
