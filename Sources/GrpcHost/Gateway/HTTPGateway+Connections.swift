import AgentCore
import Hummingbird
import HummingbirdCore
import NIOCore
import Synchronization

/// The gateway's request context: Hummingbird's basic context plus the connection the request
/// arrived on, so that a plain call can end as soon as its client goes away.
struct GatewayRequestContext: RequestContext {
  var coreContext: CoreRequestContextStorage
  /// The HTTP connection of the request.
  let channel: any Channel
  /// Who the caller is (set by the authentication middleware; nil on an open host).
  var caller: Caller?
  /// The caller's identity (anonymous on an open host).
  var identity: Identity { caller?.identity ?? .anonymous }

  init(source: ApplicationRequestContextSource) {
    coreContext = .init(source: source)
    channel = source.channel
  }
}

/// Tells in-flight calls when their client goes away.
///
/// Hummingbird keeps a connection open for output after the client closes its side (remote
/// half-closure), so the close shows up as an `inputClosed` event, which ``ConnectionCloseHandler``
/// reports here. Hummingbird's own `consumeWithCancellationOnInboundClose` does this job for SSE
/// but closes the connection after the response: right for a stream, not for keep-alive calls.
final class ConnectionCloseWatch: Sendable {
  private struct State {
    var nextId = 0
    /// Connections with calls in flight, and those calls' callbacks.
    var watchers: [ObjectIdentifier: [Int: @Sendable () -> Void]] = [:]
    /// Connections whose client has gone (input closed) but which are still open.
    var gone: Set<ObjectIdentifier> = []
  }

  private let state = Mutex(State())

  /// Runs `body`, calling `onGone` if the client of `channel` goes away before it returns (at
  /// once if it already has). `body` runs on the calling task: no task of its own.
  func whileOpen<R>(
    _ channel: any Channel, onGone: @escaping @Sendable () -> Void, _ body: () async throws -> R
  ) async rethrows -> R {
    let registration = watch(channel, onGone)
    defer { unwatch(registration) }
    return try await body()
  }

  /// Called by the connection's handler when its client has gone.
  fileprivate func clientGone(_ connection: ObjectIdentifier) {
    let watchers = state.withLock { state in
      state.gone.insert(connection)
      return state.watchers.removeValue(forKey: connection)
    }
    for onGone in watchers?.values ?? [:].values { onGone() }
  }

  /// Called by the connection's handler when the connection is closed.
  fileprivate func connectionClosed(_ connection: ObjectIdentifier) {
    clientGone(connection)
    state.withLock { _ = $0.gone.remove(connection) }
  }

  private func watch(_ channel: any Channel, _ onGone: @escaping @Sendable () -> Void) -> (ObjectIdentifier, Int) {
    let key = ObjectIdentifier(channel)
    let (id, alreadyGone) = state.withLock { state in
      defer { state.nextId += 1 }
      if state.gone.contains(key) { return (state.nextId, true) }
      state.watchers[key, default: [:]][state.nextId] = onGone
      return (state.nextId, false)
    }
    if alreadyGone { onGone() }
    return (key, id)
  }

  private func unwatch(_ registration: (ObjectIdentifier, Int)) {
    state.withLock { state in
      state.watchers[registration.0]?[registration.1] = nil
      if state.watchers[registration.0]?.isEmpty == true { state.watchers[registration.0] = nil }
    }
  }
}

/// In each HTTP connection's pipeline: reports to a ``ConnectionCloseWatch`` when the client closes
/// its side or the connection closes. Everything else passes through.
final class ConnectionCloseHandler: ChannelInboundHandler, RemovableChannelHandler {
  typealias InboundIn = NIOAny  // passed through untouched

  private let watch: ConnectionCloseWatch

  init(watch: ConnectionCloseWatch) {
    self.watch = watch
  }

  func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
    if let event = event as? ChannelEvent, event == .inputClosed {
      watch.clientGone(ObjectIdentifier(context.channel))
    }
    context.fireUserInboundEventTriggered(event)
  }

  func channelInactive(context: ChannelHandlerContext) {
    watch.connectionClosed(ObjectIdentifier(context.channel))
    context.fireChannelInactive()
  }
}
