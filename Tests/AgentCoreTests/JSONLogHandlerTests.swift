import AgentCore
import Foundation
import Logging
import Synchronization
import Testing

@Suite("JSON log lines")
struct JSONLogHandlerTests {
  @Test("each entry is one JSON object with the fixed fields, metadata on top, and escaping")
  func format() throws {
    final class Lines: Sendable { let all = Mutex<[String]>([]) }
    let lines = Lines()
    var handler = JSONLogHandler(label: "agents.test") { line in lines.all.withLock { $0.append(line) } }
    handler.metadata = ["worker": "w1"]
    let configured = handler
    let logger = Logger(label: "agents.test", factory: { _ in configured })
    let metadata: Logger.Metadata = ["count": "3", "message": "clash", "nested": .dictionary(["k": .array(["a", "b"])])]
    logger.info("a \"quoted\"\nline", metadata: metadata)
    logger.debug("below the level")

    let written = lines.all.withLock { $0 }
    try #require(written.count == 1)
    #expect(written[0].hasSuffix("}\n") && !written[0].dropLast().contains("\n"))
    let object = try #require(try JSONSerialization.jsonObject(with: Data(written[0].utf8)) as? [String: Any])
    #expect(object["level"] as? String == "info")
    #expect(object["label"] as? String == "agents.test")
    #expect(object["message"] as? String == "a \"quoted\"\nline")
    #expect(object["worker"] as? String == "w1")
    #expect(object["count"] as? String == "3")
    #expect(object["metadata.message"] as? String == "clash")
    #expect((object["nested"] as? [String: Any])?["k"] as? [String] == ["a", "b"])
    let timestamp = try #require(object["timestamp"] as? String)
    #expect(try Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(timestamp).timeIntervalSinceNow > -60)
  }
}
