import AgentCore
import AgentWire
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import Prometheus
import Synchronization

extension ClusterMember {
  /// Keeps a link to `node` (this generation of it) until `gone` (the directory no longer lists
  /// it): connects, serves the link until it breaks, and connects again after a pause.
  ///
  /// A link is this node's `OpenChannel` to the peer, authenticated as a worker's would be (the
  /// cluster's token, TLS). The router sends on it the requests and events for instances the peer
  /// holds, and routes what comes back (responses, chunks) as the peer's answers. While there is
  /// no link the router answers calls for the peer's instances at once with an error.
  func maintainLink(to node: ClusterNode, until gone: OneShot<Void>) async {
    var delay = Duration.milliseconds(50)
    while !Task.isCancelled {
      // The link, until it ends or the node goes; then a pause, unless the node went.
      let problem = await withTaskGroup(of: String?.self) { group in
        group.addTask { await self.serveLink(to: node) }
        group.addTask {
          _ = try? await gone.value()
          return nil
        }
        let first = await group.next() ?? nil
        group.cancelAll()
        return first
      }
      guard let problem else { return }
      logger.warning("link to a peer node lost", metadata: ["node": "\(node.name)", "address": "\(node.address)", "error": "\(problem)"])
      let pause = delay
      let stop = await withTaskGroup(of: Bool.self) { group in
        group.addTask { (try? await Task.sleep(for: pause)) == nil }
        group.addTask { (try? await gone.value()) != nil || Task.isCancelled }
        let first = await group.next() ?? true
        group.cancelAll()
        return first
      }
      if stop { return }
      delay = min(delay * 2, .seconds(1))
    }
  }

  /// One connection of the link to `node`; returns why it ended.
  private func serveLink(to node: ClusterNode) async -> String {
    let transport: HTTP2ClientTransport.Posix
    do {
      let address = try HostAddress(parsing: node.address)
      transport = try HTTP2ClientTransport.Posix(
        target: address.resolvableTarget,
        transportSecurity: linkSecurity,
        config: .defaults { config in
          // Notice a peer that vanished without closing the connection.
          config.connection.keepalive = .init(time: .seconds(5), timeout: .seconds(5), allowWithoutCalls: true)
        })
    } catch {
      return "cannot set up the connection to \(node.address): \(error)"
    }
    let client = GRPCClient(transport: transport)
    var metadata = Metadata()
    metadata.addString("node:\(directory.nodeName):\(UUID().uuidString.prefix(8))", forKey: AgentRpcMetadata.clientIdKey)
    metadata.addString(directory.nodeName, forKey: AgentRpcMetadata.nodeKey)
    if let token = cluster.peerToken { metadata.addString("Bearer \(token)", forKey: "authorization") }
    var options = CallOptions.defaults
    options.waitForReady = false
    options.maxRequestMessageBytes = AgentHost.transportLimit(maxMessageSize)
    options.maxResponseMessageBytes = AgentHost.transportLimit(maxMessageSize)
    let linkOpened = OneShot<WorkerLink>()
    let router = self.router
    let metrics = self.metrics
    let request = StreamingClientRequest<ChannelFrame>(metadata: metadata) { writer in
      let link = try await linkOpened.value()
      while let batch = await link.outbound.next() {
        metrics.clusterFramesSent.increment(by: Int64(batch.count))
        try await writer.write(contentsOf: batch)
      }
    }
    let ended: String = await withTaskGroup(of: String?.self) { group in
      group.addTask {
        do {
          try await client.runConnections()
        } catch {
          self.logger.debug("link connections ended", metadata: ["node": "\(node.name)", "error": "\(error)"])
        }
        return nil
      }
      defer { client.beginGracefulShutdown() }
      do {
        return try await client.bidirectionalStreaming(
          request: request, descriptor: Agents_AgentRpc.Method.OpenChannel.descriptor,
          serializer: ChannelFrameCodec(), deserializer: ChannelFrameCodec(maxFrameSize: maxMessageSize), options: options
        ) { response in
          // The peer accepted the channel (its response headers): the link carries traffic from now.
          if case .failure(let refusal) = response.accepted { throw refusal }
          let link = try router.connectPeer(node: node.name)
          defer { router.disconnect(link) }
          _ = linkOpened.resolve(.success(link))
          logger.info("linked to a peer node", metadata: ["node": "\(node.name)", "address": "\(node.address)"])
          for try await frame in response.messages {
            metrics.clusterFramesReceived.increment()
            router.route(frame, from: link)
          }
          return "node '\(node.name)' closed the link"
        }
      } catch {
        _ = linkOpened.resolve(.failure(error))
        return "\(error)"
      }
    }
    return ended
  }

  private var linkSecurity: HTTP2ClientTransport.Posix.TransportSecurity {
    guard let tls else { return .plaintext }
    return .tls(
      .defaults { config in
        if let roots = cluster.peerTrustRootsPath {
          config.trustRoots = .certificates([.file(path: roots, format: .pem)])
        }
        config.certificateChain = [.file(path: tls.certificateChainPath, format: .pem)]
        config.privateKey = .file(path: tls.privateKeyPath, format: .pem)
      })
  }
}
