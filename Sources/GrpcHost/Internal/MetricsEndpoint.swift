import AgentCore
import AgentWire
import GRPCNIOTransportHTTP2
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// A minimal HTTP/1.1 server for Prometheus: `GET /metrics` answers the text exposition; anything
/// else gets 404. Runs until its task is cancelled.
struct MetricsEndpoint: Sendable {
  let address: HostAddress
  let logger: Logger
  let render: @Sendable () -> [UInt8]

  /// Binds, reports the bound address, and serves until cancelled.
  func run(bound: OneShot<HostAddress>) async throws {
    let server: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
    do {
      server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .bind(to: try address.socketAddress().nioAddress) { channel in
          channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline()
            return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
          }
        }
      guard let local = server.channel.localAddress, let port = local.port else {
        throw AgentRuntimeError(code: .internalError, message: "the metrics endpoint has no local address")
      }
      let listening = HostAddress(host: local.ipAddress ?? address.host, port: port)
      bound.resolve(.success(listening))
      logger.info("metrics endpoint listening", metadata: ["address": "\(listening)"])
    } catch {
      bound.resolve(.failure(error))
      throw error
    }
    try await withThrowingDiscardingTaskGroup { group in
      try await server.executeThenClose { connections in
        for try await connection in connections {
          group.addTask { await serve(connection) }
        }
      }
    }
  }

  private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
    do {
      try await connection.executeThenClose { inbound, outbound in
        var head: HTTPRequestHead?
        for try await part in inbound {
          switch part {
          case .head(let requestHead):
            head = requestHead
          case .body:
            break
          case .end:
            guard let request = head else { continue }
            head = nil
            let path = request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? request.uri
            let found = path == "/metrics" && (request.method == .GET || request.method == .HEAD)
            let body = found ? render() : Array("not found: try GET /metrics\n".utf8)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: found ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain")
            headers.add(name: "Content-Length", value: "\(body.count)")
            if !request.isKeepAlive { headers.add(name: "Connection", value: "close") }
            try await outbound.write(.head(HTTPResponseHead(version: request.version, status: found ? .ok : .notFound, headers: headers)))
            if request.method != .HEAD { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
            try await outbound.write(.end(nil))
            if !request.isKeepAlive { return }
          }
        }
      }
    } catch {
      logger.debug("metrics connection ended", metadata: ["error": "\(error)"])
    }
  }
}

extension GRPCNIOTransportCore.SocketAddress {
  var nioAddress: NIOCore.SocketAddress {
    get throws {
      if let ipv4 { return try .init(ipAddress: ipv4.host, port: ipv4.port) }
      if let ipv6 { return try .init(ipAddress: ipv6.host, port: ipv6.port) }
      throw AgentRuntimeError(code: .invalidArgument, message: "the metrics endpoint needs an IP address")
    }
  }
}
