import GRPCCore
import GRPCInProcessTransport
import Synchronization

/// A server transport for any number of in-process clients: each ``makeClientTransport()`` makes
/// a new `InProcessTransport` pair and serves its server side. (One `InProcessTransport` carries
/// one client connection, and a worker needs a new one each time it reconnects.)
final class InProcessHub: ServerTransport {
  typealias Bytes = [UInt8]

  private struct State {
    var servers: [InProcessTransport.Server] = []
    var isShutDown = false
  }

  private let state = Mutex(State())
  private let newServers: AsyncStream<InProcessTransport.Server>
  private let newServer: AsyncStream<InProcessTransport.Server>.Continuation

  init() {
    (newServers, newServer) = AsyncStream.makeStream()
  }

  /// A client transport connected to this hub. After shutdown, its calls fail.
  func makeClientTransport() -> InProcessTransport.Client {
    let pair = InProcessTransport()
    let accepted = state.withLock { state in
      guard !state.isShutDown else { return false }
      state.servers.append(pair.server)
      return true
    }
    if accepted {
      newServer.yield(pair.server)
    } else {
      pair.server.beginGracefulShutdown()
    }
    return pair.client
  }

  func listen(
    streamHandler: @escaping @Sendable (RPCStream<Inbound, Outbound>, ServerContext) async -> Void
  ) async throws {
    try await withThrowingDiscardingTaskGroup { group in
      for await server in newServers {
        group.addTask { try await server.listen(streamHandler: streamHandler) }
      }
    }
  }

  func beginGracefulShutdown() {
    let servers = state.withLock { state in
      state.isShutDown = true
      return state.servers
    }
    newServer.finish()
    for server in servers { server.beginGracefulShutdown() }
  }
}
