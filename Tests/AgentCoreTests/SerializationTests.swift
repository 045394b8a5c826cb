import AgentCore
import AgentTestSupport
import Foundation
import SwiftProtobuf
import Testing

struct Mixed: Codable, Sendable, Equatable {
  var name: String
  var count: Int
  var ratio: Double
  var done: Bool
  var tags: [String]
  var url: String
}

@Suite("Serialization")
struct SerializationTests {
  var registry: SerializationRegistry {
    var registry = SerializationRegistry()
    registry.registerJSON(ChatMessage.self)
    registry.registerJSON(Mixed.self)
    registry.registerProtobuf(Google_Protobuf_StringValue.self)
    return registry
  }

  @Test("a registry made from JSON types in one expression knows each by its bare name")
  func jsonInitializer() throws {
    let registry = SerializationRegistry(json: ChatMessage.self, ChatReply.self)
    #expect(Set(registry.registeredTypes.map(\.typeName)) == ["ChatMessage", "ChatReply"])
    let payload = try registry.serialize(ChatMessage(text: "hi"))
    #expect(payload.typeName == "ChatMessage")
  }

  @Test("JSON: bare type name, field names as written, sorted keys, exact bytes")
  func jsonBytes() throws {
    let payload = try registry.serialize(ChatMessage(text: "hi / there ✓"))
    #expect(payload.typeName == "ChatMessage")
    #expect(payload.contentType == "application/json")
    #expect(String(decoding: payload.data, as: UTF8.self) == #"{"text":"hi / there ✓"}"#)

    let mixed = Mixed(name: "n", count: 3, ratio: 0.5, done: true, tags: ["a", "b"], url: "http://x/y")
    let bytes = try registry.serialize(mixed).data
    #expect(
      String(decoding: bytes, as: UTF8.self)
        == #"{"count":3,"done":true,"name":"n","ratio":0.5,"tags":["a","b"],"url":"http://x/y"}"#)
    #expect(try registry.deserialize(SerializedPayload(typeName: "Mixed", contentType: ContentType.json, data: bytes)) as? Mixed == mixed)
  }

  @Test(
    "JSON: a Python dataclass with the same name and fields decodes our bytes and vice versa",
    .enabled(if: Python.isAvailable, "needs python3")
  )
  func jsonPythonDataclass() throws {
    let mixed = Mixed(name: "n✓", count: 3, ratio: 0.5, done: true, tags: ["a"], url: "u")
    let ours = try registry.serialize(mixed)
    // Strict decode as AutoGen does it: type_(**json.loads(data)); then re-encode as AutoGen does.
    let script = """
      import sys, json, dataclasses
      from typing import List
      @dataclasses.dataclass
      class Mixed:
          name: str
          count: int
          ratio: float
          done: bool
          tags: List[str]
          url: str
      m = Mixed(**json.loads(sys.stdin.buffer.read()))
      assert type(m.count) is int and type(m.ratio) is float and type(m.done) is bool, m
      m.count += 1
      sys.stdout.write(json.dumps(dataclasses.asdict(m)))
      """
    let output = try Python.run(script, stdin: ours.data)
    let back = try registry.deserialize(
      SerializedPayload(typeName: "Mixed", contentType: ContentType.json, data: output))
    var expected = mixed
    expected.count += 1
    #expect(back as? Mixed == expected)
  }

  @Test("protobuf: full proto name, bytes are a serialized google.protobuf.Any")
  func protobufThroughAny() throws {
    var message = Google_Protobuf_StringValue()
    message.value = "hello"
    let payload = try registry.serialize(message)
    #expect(payload.typeName == "google.protobuf.StringValue")
    #expect(payload.contentType == "application/x-protobuf")
    let any = try Google_Protobuf_Any(serializedBytes: payload.data)
    #expect(any.typeURL == "type.googleapis.com/google.protobuf.StringValue")
    #expect(try Google_Protobuf_StringValue(unpackingAny: any) == message)
    #expect(try registry.deserialize(payload) as? Google_Protobuf_StringValue == message)
  }

  @Test("protobuf: an Any holding another type is an error, not a wrong value")
  func protobufWrongAny() throws {
    let other = try Google_Protobuf_Any(message: Google_Protobuf_Int32Value.with { $0.value = 1 })
    let payload = SerializedPayload(
      typeName: "google.protobuf.StringValue", contentType: ContentType.protobuf, data: try other.serializedBytes())
    let error = #expect(throws: AgentRuntimeError.self) { try registry.deserialize(payload) }
    #expect(error?.code == .serializationFailed)
  }

  @Test("an unregistered type arrives as UnknownPayload and serializes back unchanged")
  func unknownPayload() throws {
    let payload = SerializedPayload(typeName: "Mystery", contentType: ContentType.json, data: Data(#"{"a":1}"#.utf8))
    let value = try registry.deserialize(payload)
    let unknown = try #require(value as? UnknownPayload)
    #expect(unknown.payload == payload)
    #expect(try registry.serialize(unknown) == payload)
    // Same name, other content type: also unknown.
    let protoNamed = SerializedPayload(typeName: "ChatMessage", contentType: ContentType.protobuf, data: Data())
    #expect(try registry.deserialize(protoNamed) is UnknownPayload)
  }

  @Test("malformed JSON for a registered type is a serialization error")
  func malformedJSON() {
    let payload = SerializedPayload(typeName: "ChatMessage", contentType: ContentType.json, data: Data("{".utf8))
    let error = #expect(throws: AgentRuntimeError.self) { try registry.deserialize(payload) }
    #expect(error?.code == .serializationFailed)
  }

  @Test("serializing an unregistered Swift type names the type")
  func unregisteredSwiftType() {
    let error = #expect(throws: AgentRuntimeError.self) { try registry.serialize(Ping(hops: 1)) }
    #expect(error?.code == .serializationFailed)
    #expect(error?.message.contains("Ping") == true)
  }

  @Test("JSONValue state round-trips through JSON")
  func jsonValue() throws {
    let state: AgentState = ["n": 1, "x": 1.5, "s": "t", "b": true, "z": nil, "a": [1, "2"], "o": ["k": "v"]]
    let data = try JSONEncoder().encode(state)
    #expect(try JSONDecoder().decode(AgentState.self, from: data) == state)
  }
}

/// Runs python3 for cross-checks of bytes other languages must accept.
enum Python {
  static var isAvailable: Bool {
    FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")
      || (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        .contains { FileManager.default.isExecutableFile(atPath: "\($0)/python3") }
  }

  static func run(_ script: String, stdin: Data, timeout: TimeInterval = 30) throws -> Data {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", script]
    let input = Pipe()
    let output = Pipe()
    let errors = Pipe()
    process.standardInput = input
    process.standardOutput = output
    process.standardError = errors
    let exited = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in exited.signal() }
    try process.run()
    input.fileHandleForWriting.write(stdin)
    try input.fileHandleForWriting.close()
    if exited.wait(timeout: .now() + timeout) == .timedOut {
      process.terminate()
      throw AgentRuntimeError(code: .deadlineExceeded, message: "python3 did not finish within \(timeout) s")
    }
    let result = output.fileHandleForReading.readDataToEndOfFile()
    guard process.terminationStatus == 0 else {
      let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
      throw AgentRuntimeError(code: .internalError, message: "python3 failed: \(text)")
    }
    return result
  }
}
