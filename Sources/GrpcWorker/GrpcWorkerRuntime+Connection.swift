import AgentCore
import AgentWire
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import SwiftProtobuf
import Synchronization

extension GrpcWorkerRuntime {
  /// How one connection ended.
  enum ConnectionEnd {
    /// The worker is stopping and closed it.
    case closed
    /// It broke (or never came up); `established` says whether it had been registered.
    case lost(AgentRuntimeError, established: Bool)
    /// The host refused the worker's credentials: reconnecting will not help.
    case refused(AgentRuntimeError)
  }

  /// Connects, and reconnects with backoff after each loss, until the worker stops: each attempt
  /// after a failure goes to the next of ``Configuration/hosts``. Throws when the host refuses the
  /// worker or reconnecting is off or gives up.
  func maintainConnection() async throws {
    var failures = 0
    var generator = SystemRandomNumberGenerator()
    let hosts = configuration.hosts
    var index = 0
    while true {
      let host = hosts[index]
      let end = await connectOnce(to: host)
      if link.withLock({ $0.stopping }) { return }
      switch end {
      case .closed:
        return
      case .refused(let error):
        throw error
      case .lost(let error, let established):
        failures = established ? 1 : failures + 1
        guard let policy = configuration.reconnect else { throw error }
        if let maxAttempts = policy.maxAttempts, failures > maxAttempts {
          throw AgentRuntimeError(
            code: .unavailable,
            message: "gave up reconnecting to \(hosts.count == 1 ? "the host \(host)" : "the hosts \(hosts)") after \(maxAttempts) attempts",
            cause: error)
        }
        index = (index + 1) % hosts.count
        // Failing over to another host: at once. The same host again (or every host tried): back off.
        let delay = hosts.count > 1 && (established || failures < hosts.count) ? .zero : policy.delay(afterFailures: failures, using: &generator)
        logger.warning(
          established ? "lost the host; reconnecting" : "cannot reach the host; retrying",
          metadata: [
            "host": "\(host)", "next": "\(hosts[index])", "attempt": "\(failures)",
            "delay-ms": "\(Int(delay.seconds * 1000))", "error": "\(error.message)",
          ])
        do {
          try await Task.sleep(for: delay)
        } catch {
          return  // cancelled: the worker is stopping
        }
      }
    }
  }

  private func makeTransport(to host: HostAddress) throws -> any ClientTransport {
    if let make = configuration.transport.make { return try make() }
    let security: HTTP2ClientTransport.Posix.TransportSecurity
    if let tls = configuration.tls {
      security = .tls(
        .defaults { config in
          if let roots = tls.trustRootsPath {
            config.trustRoots = .certificates([.file(path: roots, format: .pem)])
          }
          if let chain = tls.certificateChainPath, let key = tls.privateKeyPath {
            config.certificateChain = [.file(path: chain, format: .pem)]
            config.privateKey = .file(path: key, format: .pem)
          }
        })
    } else {
      security = .plaintext
    }
    let policy = configuration.reconnect ?? ReconnectPolicy()
    return try HTTP2ClientTransport.Posix(
      target: host.resolvableTarget,
      transportSecurity: security,
      config: .defaults { config in
        // This client lives for one connection; the worker's own loop does the reconnecting.
        config.backoff = .init(
          initial: policy.initialBackoff, max: policy.maxBackoff, multiplier: policy.multiplier, jitter: policy.jitter)
        // Notice a host that vanished without closing the connection.
        config.connection.keepalive = configuration.keepaliveInterval.map {
          .init(time: $0, timeout: .seconds(20), allowWithoutCalls: false)
        }
      }
    )
  }

  /// One connection: open the channel, register again, flush the buffer, serve until it ends.
  private func connectOnce(to host: HostAddress) async -> ConnectionEnd {
    let transport: any ClientTransport
    do {
      transport = try makeTransport(to: host)
    } catch {
      return .refused(
        AgentRuntimeError(code: .invalidArgument, message: "cannot set up the connection to \(host): \(error)", cause: error))
    }
    return await connectOnce(over: transport, to: host)
  }

  private func connectOnce<Transport: ClientTransport>(over transport: Transport, to host: HostAddress) async -> ConnectionEnd {
    let client = GRPCClient(transport: transport)
    let connection = HostClient(
      clientId: UUID().uuidString, client: client, authToken: configuration.authToken,
      timeout: configuration.defaultRPCTimeout, linkFailure: { [weak self] in self?.link.withLock { $0.failure } })
    let outbox = BatchQueue<Agents_Message>()
    let attempt = Attempt()
    logger.info("connecting", metadata: ["host": "\(host)", "client-id": "\(connection.clientId)"])

    let outcome: Result<Void, any Error> = await withTaskGroup(of: Void.self) { group in
      group.addTask {
        do {
          try await client.runConnections()
        } catch {
          self.logger.debug("connections ended", metadata: ["error": "\(error)"])
        }
      }
      defer { client.beginGracefulShutdown() }
      do {
        try await runChannel(connection, outbox: outbox, attempt: attempt)
        return .success(())
      } catch {
        return .failure(error)
      }
    }

    // Detach: what was never written goes back to the front of the buffer (publishes only: the
    // callers of requests are failed below, and the host has already failed the callers of
    // responses).
    let wasEstablished = attempt.established.load(ordering: .relaxed)
    let (requeued, stopping) = link.withLock { link in
      link.detached(unsent: attempt.unsent.withLock { $0 } + outbox.close(), wasEstablished: wasEstablished)
    }
    if case .failure(let error) = outcome, let refusal = Self.refusal(error) {
      return .refused(
        AgentRuntimeError(
          code: .unauthenticated, message: "the host \(host) refused the channel: \(refusal.message)",
          cause: error))
    }
    if case .failure(let error as AgentRuntimeError) = outcome, error.code == .unauthenticated {
      return .refused(error)
    }
    if stopping { return .closed }
    let reason: String
    switch outcome {
    case .success: reason = "the host closed the channel"
    case .failure(let error as RPCError): reason = "\(error.code): \(error.message)"
    case .failure(let error as AgentRuntimeError): reason = error.message
    case .failure(let error): reason = "\(error)"
    }
    let lost = AgentRuntimeError(
      code: .unavailable, message: "lost the connection to the host \(host) (\(reason))",
      cause: outcome.failure)
    if wasEstablished {
      failPending(
        AgentRuntimeError(
          code: .unavailable,
          message: "the connection to the host \(host) was lost before the response arrived",
          cause: lost))
      connectionChanges.yield(.disconnected(reason: reason))
      logger.warning("disconnected", metadata: ["client-id": "\(connection.clientId)", "reason": "\(reason)", "requeued-publishes": "\(requeued)"])
    }
    return .lost(lost, established: wasEstablished)
  }

  private static func refusal(_ error: any Error) -> RPCError? {
    guard let error = error as? RPCError, [.unauthenticated, .permissionDenied].contains(error.code) else { return nil }
    return error
  }

  private func runChannel(
    _ connection: HostClient,
    outbox: BatchQueue<Agents_Message>,
    attempt: Attempt
  ) async throws {
    let accepted = OneShot<Void>()
    let readyTimeout = configuration.channelReadyTimeout
    var options = CallOptions.defaults
    options.waitForReady = false  // fail fast when the host is down; the loop retries
    // The transport's limits sit above maxMessageSize (and the host's default), so that a frame
    // over the limit is answered by the checks above instead of breaking the stream.
    let transportLimit = 2 * max(configuration.maxMessageSize, 4 * 1024 * 1024)
    options.maxResponseMessageBytes = transportLimit
    options.maxRequestMessageBytes = transportLimit
    try await connection.rpc.openChannel(metadata: connection.metadata, options: options) { writer in
      try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
          // runtime-host acknowledges the channel with response headers at once; AutoGen's host
          // sends nothing until it has a message, so do not wait forever for it.
          _ = try? await withDeadline(
            readyTimeout, timeoutError: { AgentRuntimeError(code: .deadlineExceeded, message: "") },
            cancelledError: { AgentRuntimeError(code: .cancelled, message: "") }, { try await accepted.value() })
          do {
            try Task.checkCancellation()
            try await self.establish(connection, outbox: outbox)
          } catch {
            // The writer below waits on the outbox: end it, so that this error ends the attempt.
            outbox.finish()
            throw error
          }
          attempt.established.store(true, ordering: .relaxed)
        }
        while let batch = await outbox.next() {
          for (index, message) in batch.enumerated() {
            do {
              try await writer.write(message)
            } catch {
              attempt.unsent.withLock { $0 = Array(batch[index...]) }
              throw error
            }
          }
        }
        try await group.waitForAll()
      }
    } onResponse: { response in
      switch response.accepted {
      case .failure(let error): throw error
      case .success(let contents): self.link.withLock { $0.admitted(PublishRights(contents.metadata)) }
      }
      accepted.resolve(.success(()))
      for try await message in response.messages {
        self.handleIncoming(message)
      }
    }
  }

  /// Registers this worker's agent types and subscriptions on a new connection, then makes it
  /// live: buffered publishes go first, in order, and waiting calls resume.
  private func establish(_ connection: HostClient, outbox: BatchQueue<Agents_Message>) async throws {
    let types = link.withLock { $0.registeredTypes }
    for type in types {
      try await connection.registerAgent(type)
    }
    for subscription in subscriptions {
      try await connection.replaySubscription(subscription)
    }
    let (ready, flushed) = link.withLock { $0.established(Live(client: connection, outbox: outbox)) }
    ready.resolve(.success(connection))
    connectionChanges.yield(.connected(clientId: connection.clientId))
    logger.info(
      "connected", metadata: [
        "client-id": "\(connection.clientId)", "types": "\(types.count)", "flushed-publishes": "\(flushed)",
      ])
  }
}

/// What one connection attempt records while it runs.
private final class Attempt: Sendable {
  /// Messages taken from the outbox whose write failed: they were never sent.
  let unsent = Mutex<[Agents_Message]>([])
  /// Whether the connection got registered and live.
  let established = Atomic<Bool>(false)
}

extension Result {
  fileprivate var failure: Failure? {
    if case .failure(let error) = self { error } else { nil }
  }
}
