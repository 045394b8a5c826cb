import AgentCore
import AgentWire
import GRPCCore
import GRPCProtobuf
import Logging
import SwiftProtobuf
import Synchronization

/// The `agents.AgentRpc` service: reads each call's `client-id`, then hands the work to the router.
///
/// `OpenChannel` frames are read and written with ``ChannelFrameCodec`` so that CloudEvents pass
/// through the host as bytes; every other method uses the generated protobuf coding.
struct AgentRpcService: RegistrableRPCService {
  static let clientIdKey = AgentRpcMetadata.clientIdKey

  let router: HostRouter
  let logger: Logger
  /// Who each call is (its credentials), for its permissions.
  let authenticator: Authenticator
  /// Where channels are recorded, so that revoked or expired credentials close theirs.
  let openStreams: OpenStreams
  /// The largest channel frame routed; larger ones are answered with RESOURCE_EXHAUSTED errors.
  let maxMessageSize: Int

  private func clientId(_ metadata: Metadata, method: String) throws(RPCError) -> String {
    guard let id = metadata[stringValues: Self.clientIdKey].first(where: { _ in true }), !id.isEmpty else {
      logger.info("call refused: no client-id", metadata: ["method": "\(method)"])
      throw RPCError(
        code: .invalidArgument,
        message: "missing '\(Self.clientIdKey)' metadata: every call must carry the worker's client id")
    }
    return id
  }

  func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
    router.registerHandler(
      forMethod: Agents_AgentRpc.Method.OpenChannel.descriptor,
      deserializer: ChannelFrameCodec(maxFrameSize: maxMessageSize), serializer: ChannelFrameCodec()
    ) { request, context in
      try await self.openChannel(request: request, context: context)
    }
    router.registerHandler(
      forMethod: Agents_AgentRpc.Method.OpenControlChannel.descriptor,
      deserializer: ProtobufDeserializer<Agents_ControlMessage>(), serializer: ProtobufSerializer<Agents_ControlMessage>()
    ) { request, context in
      try await self.openControlChannel(request: request, context: context)
    }
    router.registerHandler(
      forMethod: Agents_AgentRpc.Method.RegisterAgent.descriptor,
      deserializer: ProtobufDeserializer<Agents_RegisterAgentTypeRequest>(),
      serializer: ProtobufSerializer<Agents_RegisterAgentTypeResponse>()
    ) { request, context in
      StreamingServerResponse(single: try await self.registerAgent(request: ServerRequest(stream: request), context: context))
    }
    router.registerHandler(
      forMethod: Agents_AgentRpc.Method.AddSubscription.descriptor,
      deserializer: ProtobufDeserializer<Agents_AddSubscriptionRequest>(),
      serializer: ProtobufSerializer<Agents_AddSubscriptionResponse>()
    ) { request, context in
      StreamingServerResponse(single: try await self.addSubscription(request: ServerRequest(stream: request), context: context))
    }
    router.registerHandler(
      forMethod: Agents_AgentRpc.Method.RemoveSubscription.descriptor,
      deserializer: ProtobufDeserializer<Agents_RemoveSubscriptionRequest>(),
      serializer: ProtobufSerializer<Agents_RemoveSubscriptionResponse>()
    ) { request, context in
      StreamingServerResponse(single: try await self.removeSubscription(request: ServerRequest(stream: request), context: context))
    }
    router.registerHandler(
      forMethod: Agents_AgentRpc.Method.GetSubscriptions.descriptor,
      deserializer: ProtobufDeserializer<Agents_GetSubscriptionsRequest>(),
      serializer: ProtobufSerializer<Agents_GetSubscriptionsResponse>()
    ) { request, context in
      StreamingServerResponse(single: try await self.getSubscriptions(request: ServerRequest(stream: request), context: context))
    }
  }

  func openChannel(
    request: StreamingServerRequest<ChannelFrame>,
    context: ServerContext
  ) async throws -> StreamingServerResponse<ChannelFrame> {
    let clientId = try clientId(request.metadata, method: "OpenChannel")
    let caller = try await authenticator.caller(request.metadata, context)
    let router = self.router
    let logger = self.logger
    let openStreams = self.openStreams
    return StreamingServerResponse(metadata: Self.permissionHeaders(caller.identity, isOpen: authenticator.isOpen)) { writer in
      // Connect here, not before: grpc-swift skips this closure for a stream that is already gone
      // (e.g. reset for an over-limit frame), and the link must not outlive its stream.
      let link = try router.connect(
        clientId: clientId, identity: caller.identity, address: context.remotePeer,
        peerNode: request.metadata[stringValues: AgentRpcMetadata.nodeKey].first(where: { _ in true }))
      defer { router.disconnect(link) }
      // A reload that revokes the credentials (or the token's expiry) ends the channel.
      let (ended, end) = AsyncStream.makeStream(of: AgentRuntimeError.self)
      let registration = await openStreams.open(caller) { reason in
        end.yield(reason)
        end.finish()
      }
      defer { registration?.close() }
      let inboundError = await withTaskGroup(of: (any Error)?.self) { group in
        group.addTask {
          do {
            // Everything queued since the last write goes out as one batch: one flush for many frames.
            while let batch = await link.outbound.next() {
              link.framesOut.add(batch.count, ordering: .relaxed)
              try await writer.write(contentsOf: batch)
            }
          } catch {
            logger.debug("write to worker failed", metadata: ["client-id": "\(clientId)", "error": "\(error)"])
          }
          return nil
        }
        group.addTask {
          do {
            for try await message in request.messages {
              link.framesIn.add(1, ordering: .relaxed)
              router.route(message, from: link)
            }
            return nil
          } catch {
            return error
          }
        }
        group.addTask {
          for await reason in ended {
            logger.notice(
              "closing a worker's channel", metadata: ["client-id": "\(clientId)", "identity": "\(caller.identity)", "reason": "\(reason.message)"])
            return RPCError(reason)
          }
          return nil
        }
        // Either side ending ends the channel: the worker closed or vanished, or the host is
        // closing the stream (shutdown, revoked credentials).
        let first = await group.next()!
        group.cancelAll()
        return first
      }
      if let inboundError, !(inboundError is CancellationError) {
        // A frame that is not an agents.Message, or a broken connection: tell the sender why
        // (a vanished peer never reads it).
        logger.info("worker channel failed", metadata: ["client-id": "\(clientId)", "error": "\(inboundError)"])
        throw (inboundError as? RPCError)
          ?? RPCError(code: .invalidArgument, message: "the channel failed: \(inboundError)")
      }
      return [:]
    }
  }

  /// The response headers that tell a worker its identity and what it may publish
  /// (`agents-identity`, `agents-publish`: comma-separated name patterns), so that our workers
  /// refuse a forbidden publish at once instead of the host dropping it. None on an open host.
  static func permissionHeaders(_ identity: Identity, isOpen: Bool) -> Metadata {
    guard !isOpen else { return [:] }
    return [
      AgentRpcMetadata.identityKey: .string(identity.name),
      AgentRpcMetadata.publishPatternsKey: .string(identity.permissions.publish.map(\.description).joined(separator: ",")),
    ]
  }

  func openControlChannel(
    request: StreamingServerRequest<Agents_ControlMessage>,
    context: ServerContext
  ) async throws -> StreamingServerResponse<Agents_ControlMessage> {
    let clientId = try clientId(request.metadata, method: "OpenControlChannel")
    let caller = try await authenticator.caller(request.metadata, context)
    let router = self.router
    let openStreams = self.openStreams
    return StreamingServerResponse { writer in
      let (link, outbound) = try router.connectControl(clientId: clientId)
      defer { router.disconnectControl(link) }
      let (ended, end) = AsyncStream.makeStream(of: AgentRuntimeError.self)
      let registration = await openStreams.open(caller) { reason in
        end.yield(reason)
        end.finish()
      }
      defer { registration?.close() }
      let revoked = await withTaskGroup(of: AgentRuntimeError?.self) { group in
        group.addTask {
          do {
            for await message in outbound { try await writer.write(message) }
          } catch {}
          return nil
        }
        group.addTask {
          for await reason in ended { return reason }
          return nil
        }
        group.addTask {
          do {
            for try await message in request.messages { router.routeControl(message, from: link) }
          } catch {}
          return nil
        }
        let first = await group.next()!
        group.cancelAll()
        return first
      }
      if let revoked { throw RPCError(revoked) }
      return [:]
    }
  }

  func registerAgent(
    request: ServerRequest<Agents_RegisterAgentTypeRequest>,
    context: ServerContext
  ) async throws -> ServerResponse<Agents_RegisterAgentTypeResponse> {
    let clientId = try clientId(request.metadata, method: "RegisterAgent")
    try router.register(
      type: request.message.type, clientId: clientId, identity: try await authenticator.identity(request.metadata, context))
    return ServerResponse(message: Agents_RegisterAgentTypeResponse())
  }

  func addSubscription(
    request: ServerRequest<Agents_AddSubscriptionRequest>,
    context: ServerContext
  ) async throws -> ServerResponse<Agents_AddSubscriptionResponse> {
    let clientId = try clientId(request.metadata, method: "AddSubscription")
    try router.addSubscription(
      request.message.subscription, clientId: clientId, identity: try await authenticator.identity(request.metadata, context))
    return ServerResponse(message: Agents_AddSubscriptionResponse())
  }

  func removeSubscription(
    request: ServerRequest<Agents_RemoveSubscriptionRequest>,
    context: ServerContext
  ) async throws -> ServerResponse<Agents_RemoveSubscriptionResponse> {
    _ = try clientId(request.metadata, method: "RemoveSubscription")
    try router.removeSubscription(id: request.message.id)
    return ServerResponse(message: Agents_RemoveSubscriptionResponse())
  }

  func getSubscriptions(
    request: ServerRequest<Agents_GetSubscriptionsRequest>,
    context: ServerContext
  ) async throws -> ServerResponse<Agents_GetSubscriptionsResponse> {
    _ = try clientId(request.metadata, method: "GetSubscriptions")
    return ServerResponse(message: .with { $0.subscriptions = router.subscriptions.map(Agents_Subscription.init) })
  }
}
