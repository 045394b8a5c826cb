import AgentCore
import AgentStatePostgres
import AgentStateSQLite
import Logging
import ServiceLifecycle

/// `--state-store`: which store the host keeps agent state in.
enum StateStoreChoice {
  case memory
  case sqlite(path: String)
  case postgres(url: String)
  case none

  init(_ setting: String) throws(AgentRuntimeError) {
    switch setting {
    case "memory": self = .memory
    case "none": self = .none
    case let sqlite where sqlite.hasPrefix("sqlite:"):
      let path = String(sqlite.dropFirst("sqlite:".count))
      guard !path.isEmpty else { throw AgentRuntimeError(code: .invalidArgument, message: "--state-store sqlite:PATH needs a path") }
      self = .sqlite(path: path)
    case let url where url.hasPrefix("postgres://") || url.hasPrefix("postgresql://"):
      try PostgresAgentStateStore.check(url: url)
      self = .postgres(url: url)
    default:
      throw AgentRuntimeError(
        code: .invalidArgument, message: "--state-store '\(setting)': expected memory, sqlite:PATH, postgres://USER@HOST/DB or none")
    }
  }

  /// An open store, the services it needs running, and how to close it once they have stopped.
  struct Opened {
    var store: (any AgentStateStore)?
    var services: [any Service] = []
    var close: @Sendable () async -> Void = {}
  }

  func open() async throws -> Opened {
    switch self {
    case .memory:
      return Opened(store: InMemoryAgentStateStore())
    case .none:
      return Opened(store: nil)
    case .sqlite(let path):
      let store = try await SQLiteAgentStateStore.open(path: path)
      return Opened(store: store, close: { try? await store.close() })
    case .postgres(let url):
      let store = try PostgresAgentStateStore(url: url, logger: Logger(label: "agents.state.postgres"))
      return Opened(store: store, services: [store])
    }
  }
}
