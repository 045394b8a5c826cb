import AgentCore
public import Foundation
public import Logging
public import ServiceLifecycle
import Synchronization
public import UnixSignals

/// Reloads a host's credentials file when it changes (checked every ``interval``) and on SIGHUP,
/// as a `Service` beside the host (`runtime-host --auth-file` runs one).
///
/// A file that no longer parses is refused with an error log line, and the host keeps the
/// credentials it has. See ``AgentHost/replaceCredentials(_:)`` for what a reload does to open
/// streams: a revoked token's streams end within ``interval`` of the file's change.
public final class CredentialsFileWatcher: Service, Sendable {
  private let path: String
  private let host: AgentHost
  /// How often the file is compared with the one loaded last.
  public let interval: Duration
  private let signals: [UnixSignal]
  private let logger: Logger
  /// The contents last loaded (or refused), to tell a change.
  private let loaded = Mutex<Data?>(nil)

  /// Creates a watcher of `path` for `host`.
  ///
  /// - Parameters:
  ///   - path: the credentials file (see ``Credentials/load(contentsOf:)``).
  ///   - host: the host whose credentials it replaces.
  ///   - interval: how often the file is compared with the one loaded last. Default 500 ms.
  ///   - signals: signals that force a reload. Default SIGHUP.
  ///   - logger: where reloads and refused files are logged.
  public init(
    path: String, host: AgentHost, interval: Duration = .milliseconds(500), signals: [UnixSignal] = [.sighup],
    logger: Logger = Logger(label: "agents.host.credentials")
  ) {
    self.path = path
    self.host = host
    self.interval = interval
    self.signals = signals
    self.logger = logger
  }

  /// Marks `contents` as what the host already has (read at start), so that the first check
  /// reloads only on a change.
  public func loaded(_ contents: Data) {
    loaded.withLock { $0 = contents }
  }

  /// Watches until graceful shutdown.
  public func run() async throws {
    let signals = self.signals
    await withTaskGroup(of: Void.self) { group in
      if !signals.isEmpty {
        group.addTask {
          for await _ in await UnixSignalsSequence(trapping: signals).cancelOnGracefulShutdown() {
            await self.reload(reason: "signal")
          }
        }
      }
      group.addTask {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
          do { try await Task.sleep(for: self.interval) } catch { return }
          await self.reloadIfChanged()
        }
      }
      try? await gracefulShutdown()
      group.cancelAll()
    }
  }

  /// Reloads when the file differs from the one loaded last.
  public func reloadIfChanged() async {
    guard let contents = try? Data(contentsOf: URL(fileURLWithPath: path)) else {
      // Missing for a moment while an editor or a secret mount swaps it: the next check sees it.
      return
    }
    guard loaded.withLock({ $0 != contents }) else { return }
    await reload(reason: "file changed")
  }

  /// Reads the file and gives its credentials to the host.
  ///
  /// - Returns: whether the host took them.
  @discardableResult
  public func reload(reason: String = "requested") async -> Bool {
    let contents: Data
    do {
      contents = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
      logger.error("credentials not reloaded: cannot read the file", metadata: ["path": "\(path)", "error": "\(error.localizedDescription)"])
      return false
    }
    loaded.withLock { $0 = contents }
    do {
      let credentials = try await Credentials.parse(
        contents, source: path, directory: URL(fileURLWithPath: path).deletingLastPathComponent().path)
      try await host.replaceCredentials(credentials)
      logger.notice("credentials reloaded", metadata: ["path": "\(path)", "reason": "\(reason)"])
      return true
    } catch {
      logger.error(
        "credentials not reloaded: the host keeps the ones it has", metadata: ["path": "\(path)", "error": "\(error.message)"])
      return false
    }
  }
}
