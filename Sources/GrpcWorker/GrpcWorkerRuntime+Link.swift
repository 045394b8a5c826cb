import AgentCore
import AgentWire
import GRPCCore

extension GrpcWorkerRuntime {
  /// The connection that carries traffic, once it is registered.
  struct Live: Sendable {
    var client: HostClient
    var outbox: BatchQueue<Agents_Message>
  }

  /// What the host admitted this worker's identity to publish (`OpenChannel`'s response headers
  /// on a host that requires credentials).
  struct PublishRights: Sendable, Equatable {
    var identity: String
    var patterns: [NamePattern]

    /// The rights in `metadata`; nil when it has none (an open host, or AutoGen's).
    init?(_ metadata: Metadata) {
      guard let identity = metadata[stringValues: AgentRpcMetadata.identityKey].first(where: { _ in true }),
        let list = metadata[stringValues: AgentRpcMetadata.publishPatternsKey].first(where: { _ in true })
      else { return nil }
      self.identity = identity
      // A pattern the host sent but this worker cannot read is left to the host to judge.
      let texts = list.split(separator: ",").map { String($0) }
      let patterns = texts.compactMap { try? NamePattern($0) }
      self.patterns = patterns.count == texts.count ? patterns : [.any]
    }

    func allows(_ topicType: String) -> Bool { patterns.contains { $0.matches(topicType) } }
  }

  /// The worker's link to its host across connections, as a value: each event is a mutating
  /// method that returns what the caller must do once the lock is released (resolve a waiter, log,
  /// tell watchers). The runtime keeps one behind a `Mutex`; tests drive it without a transport.
  ///
  /// It is connecting (no `live` connection: publishes are buffered, calls wait on `ready`), live,
  /// closing (`stopping`: the worker's agents are done and no reconnect follows), or stopped
  /// (`failure` set: every call fails with it).
  struct Link {
    /// Set while a connection is up and registered; messages go to its outbox.
    private(set) var live: Live?
    /// Resolved when the next connection is live; replaced when it is lost.
    private(set) var ready = OneShot<HostClient>()
    /// Publishes made while not connected, oldest first.
    private(set) var buffered: [Agents_Message] = []
    /// Set once the worker is stopping: no more reconnects.
    private(set) var stopping = false
    /// Why the worker stopped for good; calls fail with it.
    private(set) var failure: AgentRuntimeError?
    /// Agent types registered with the host, to register again after a reconnect.
    private(set) var registeredTypes: [AgentType] = []
    /// What the last connection's host admitted this worker to publish; nil: the host did not say.
    private(set) var publishRights: PublishRights?
    /// How many publishes may wait for a connection.
    let maxBuffered: Int

    init(maxBuffered: Int) {
      self.maxBuffered = maxBuffered
    }

    // MARK: Connections

    /// A new connection is registered: it goes live, the publishes buffered meanwhile go first, in
    /// order. Resolve the returned `ready` with its client, to wake the calls that waited.
    mutating func established(_ connection: Live) -> (ready: OneShot<HostClient>, flushed: Int) {
      for message in buffered { connection.outbox.append(message) }
      let flushed = buffered.count
      buffered = []
      live = connection
      return (ready, flushed)
    }

    /// The connection ended. What it took but never wrote goes back in front of the buffer
    /// (publishes only: the callers of requests fail, and the host has already failed the callers
    /// of responses). Calls wait for the next connection if this one had gone live.
    mutating func detached(unsent: [Agents_Message], wasEstablished: Bool) -> (requeued: Int, stopping: Bool) {
      let publishes = unsent.filter { if case .cloudEvent = $0.message { true } else { false } }
      buffered = publishes + buffered
      live = nil
      if wasEstablished { ready = OneShot() }
      return (publishes.count, stopping)
    }

    /// The worker's agents are done: close the live connection's outbox and reconnect no more.
    ///
    /// - Returns: whether a connection was live (then wait, bounded, for the host to close it).
    mutating func beginClosing() -> Bool {
      stopping = true
      live?.outbox.finish()
      return live != nil
    }

    /// Ends the link for good: fail the returned `ready` with `failure`, and the pending calls.
    /// A second stop keeps the first failure.
    mutating func stop(_ error: AgentRuntimeError) -> (ready: OneShot<HostClient>, failure: AgentRuntimeError, dropped: Int) {
      stopping = true
      if failure == nil { failure = error }
      defer { buffered = [] }
      return (ready, failure ?? error, buffered.count)
    }

    /// The host admitted the channel with `rights`.
    mutating func admitted(_ rights: PublishRights?) { publishRights = rights }

    // MARK: Traffic

    /// Puts `message` on the live connection. Returns false when there is none.
    func send(_ message: Agents_Message) -> Bool {
      live?.outbox.append(message) ?? false
    }

    /// Sends a publish, or buffers it while not connected.
    ///
    /// - Throws: `permissionDenied` when the host said the worker's identity may not publish to
    ///   `topicType` (the host would drop it); the link's failure once stopped, or
    ///   `resourceExhausted` when ``maxBuffered`` publishes already wait.
    /// Sends `frame` now (true), or buffers it until the next connection (false).
    @discardableResult
    mutating func publish(_ frame: Agents_Message, topicType: String, host: HostAddress) throws(AgentRuntimeError) -> Bool {
      if let publishRights, !publishRights.allows(topicType) {
        throw AgentRuntimeError(
          code: .permissionDenied,
          message: "identity '\(publishRights.identity)' may not publish to topic type '\(topicType)' (the host \(host) allows \(publishRights.patterns.map(\.description)))")
      }
      if send(frame) { return true }
      if let failure { throw failure }
      guard buffered.count < maxBuffered else {
        throw AgentRuntimeError(
          code: .resourceExhausted,
          message: "not connected to the host \(host), and \(maxBuffered) publishes already wait for the connection (maxBufferedPublishes); this one was refused")
      }
      buffered.append(frame)
      return false
    }

    /// What to wait on for a live connection.
    ///
    /// - Throws: the link's failure once stopped.
    func connection() throws(AgentRuntimeError) -> OneShot<HostClient> {
      if let failure { throw failure }
      return ready
    }

    // MARK: Registrations

    mutating func registered(_ type: AgentType) { registeredTypes.append(type) }

    mutating func unregistered(_ type: AgentType) { registeredTypes.removeAll { $0 == type } }
  }
}
