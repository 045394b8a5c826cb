import AgentCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The web console: its page at `/` (and its script and style), and the read-only JSON it reads
/// besides the gateway's routes: `/v1/overview` and `/v1/workers`. The page holds no data and
/// needs no token; every `/v1` route behind it does.
extension HTTPGateway {
  func addConsoleRoutes(to router: Router<GatewayRequestContext>, v1: RouterGroup<GatewayRequestContext>) {
    for (path, asset) in ConsoleAssets.files {
      router.get(RouterPath(path)) { _, _ -> Response in
        Response(
          status: .ok,
          headers: [.contentType: asset.contentType, .cacheControl: "no-cache", .contentSecurityPolicy: Self.consolePolicy],
          body: ResponseBody(byteBuffer: ByteBuffer(string: asset.text)))
      }
    }
    v1.get("overview") { _, context -> Response in overview(context) }
    v1.get("workers") { request, _ -> Response in
      await Self.answering { try workers(request) }
    }
  }

  /// The console loads nothing from elsewhere and runs no inline script.
  static let consolePolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"

  /// Counts of what the host serves now (rates come from `/metrics`, which the console samples).
  private func overview(_ context: GatewayRequestContext) -> Response {
    let snapshot = gateway.router.snapshot
    let calls = gateway.router.callTotals
    let now = Date()
    return Self.json(
      .ok,
      GatewayJSON.encode([
        "startedAt": Self.timestamp(startedAt),
        "uptimeSeconds": (now.timeIntervalSince(startedAt) * 10).rounded() / 10,
        "workers": snapshot.connectedWorkers,
        "agentTypes": snapshot.registeredTypes.count,
        "instances": snapshot.placements.count,
        "subscriptions": snapshot.subscriptions,
        "pendingRpcs": snapshot.pendingRPCs,
        "tapReaders": snapshot.tapReaders,
        "calls": ["finished": calls.calls, "failed": calls.errors],
        "identity": context.identity.name,
      ]))
  }

  /// A page of the connected workers, by client id: `offset`, `limit` (at most 500, default 100),
  /// and `q` (a client id, identity, address or agent type containing it).
  private func workers(_ request: Request) throws -> Response {
    let query = request.uri.queryParameters
    func number(_ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
      guard let text = query[Substring(name)] else { return value }
      guard let number = Int(text), range.contains(number) else {
        throw AgentRuntimeError(code: .invalidArgument, message: "\(name) '\(text)' is not a number in \(range)")
      }
      return number
    }
    let offset = try number("offset", default: 0, range: 0...Int(Int32.max))
    let limit = try number("limit", default: 100, range: 1...500)
    var all = gateway.router.workers
    if let needle = query["q"].map(String.init)?.lowercased(), !needle.isEmpty {
      all = all.filter { worker in
        ([worker.clientId, worker.identity, worker.address] + worker.types).contains { $0.lowercased().contains(needle) }
      }
    }
    let page = WorkerListing(total: all.count, offset: offset, workers: Array(all.dropFirst(offset).prefix(limit)))
    return Self.json(.ok, GatewayJSON.encoded(page))
  }

  static func timestamp(_ date: Date) -> String {
    date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
  }
}

/// `GET /v1/workers`.
struct WorkerListing: Encodable {
  var total: Int
  var offset: Int
  var workers: [HostRouter.WorkerSummary]
}

/// The console's files, embedded in the host (`scripts/generate-console.sh` makes
/// `ConsoleAssets+Files.swift` from `Console/Assets/`; a test checks they match).
enum ConsoleAssets {
  struct File: Sendable {
    var contentType: String
    var text: String
  }

  static let files: [(path: String, file: File)] = [
    ("/", File(contentType: "text/html; charset=utf-8", text: indexHTML)),
    ("/console.js", File(contentType: "text/javascript; charset=utf-8", text: consoleJS)),
    ("/console.css", File(contentType: "text/css; charset=utf-8", text: consoleCSS)),
  ]
}
