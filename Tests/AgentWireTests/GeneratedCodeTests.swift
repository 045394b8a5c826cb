import AgentWire
import Foundation
import SwiftProtobuf
import Testing

/// Proves the committed generated code matches `Protos/` without building the protoc plugins:
/// protoc (Debian's `protobuf-compiler`) describes the .proto files, and every field of every
/// message must decode into the committed Swift type under the same name and number.
@Suite("Generated code matches Protos/")
struct GeneratedCodeTests {
  /// Every generated message type. A message added to the .proto files without regenerating has
  /// no entry here, and the test fails.
  static let generated: [any SwiftProtobuf.Message.Type] = [
    Agents_AgentId.self, Agents_Payload.self, Agents_RpcRequest.self, Agents_RpcResponse.self,
    Agents_RegisterAgentTypeRequest.self, Agents_RegisterAgentTypeResponse.self,
    Agents_TypeSubscription.self, Agents_TypePrefixSubscription.self, Agents_Subscription.self,
    Agents_AddSubscriptionRequest.self, Agents_AddSubscriptionResponse.self,
    Agents_RemoveSubscriptionRequest.self, Agents_RemoveSubscriptionResponse.self,
    Agents_GetSubscriptionsRequest.self, Agents_GetSubscriptionsResponse.self, Agents_Message.self,
    Agents_SaveStateRequest.self, Agents_SaveStateResponse.self, Agents_LoadStateRequest.self,
    Agents_LoadStateResponse.self, Agents_ControlMessage.self,
    Io_Cloudevents_V1_CloudEvent.self, Io_Cloudevents_V1_CloudEvent.CloudEventAttributeValue.self,
    Grpc_Health_V1_HealthCheckRequest.self, Grpc_Health_V1_HealthCheckResponse.self,
  ]

  static let packageRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

  static var protocAvailable: Bool {
    FileManager.default.isExecutableFile(atPath: "/usr/bin/protoc")
      && FileManager.default.fileExists(atPath: "/usr/include/google/protobuf/any.proto")
  }

  @Test("the recorded checksums match Protos/ (regenerate with scripts/generate-protos.sh)")
  func checksums() throws {
    let output = try run(
      "/usr/bin/sha256sum", ["--check", "--strict", "../Sources/AgentWire/Generated/PROTOS.sha256"],
      in: Self.packageRoot.appendingPathComponent("Protos"))
    #expect(output.status == 0, "\(output.text)")
  }

  @Test(
    "every message and field in Protos/ exists in the generated code with the same name and number",
    .enabled(if: protocAvailable, "needs protoc and the well-known protos (apt-get install protobuf-compiler libprotobuf-dev)")
  )
  func descriptorsMatch() throws {
    let setFile = FileManager.default.temporaryDirectory.appendingPathComponent("agents-\(UUID().uuidString).pb")
    defer { try? FileManager.default.removeItem(at: setFile) }
    let protoc = try run(
      "/usr/bin/protoc",
      ["-I", "Protos", "-I", "/usr/include", "--descriptor_set_out=\(setFile.path)", "agent_worker.proto", "cloudevent.proto", "health.proto"],
      in: Self.packageRoot)
    try #require(protoc.status == 0, "\(protoc.text)")
    let set = try Google_Protobuf_FileDescriptorSet(serializedBytes: try Data(contentsOf: setFile))

    let swiftTypes = Dictionary(uniqueKeysWithValues: Self.generated.map { ($0.protoMessageName, $0) })
    var described: Set<String> = []
    for file in set.file {
      var queue = file.messageType.map { (file.package + "." + $0.name, $0) }
      while let (fullName, message) = queue.popLast() {
        if message.options.mapEntry { continue }
        described.insert(fullName)
        queue += message.nestedType.map { (fullName + "." + $0.name, $0) }
        let swiftType = try #require(swiftTypes[fullName], "no generated Swift type for \(fullName)")
        for field in message.field {
          let decoded = try swiftType.init(serializedBytes: encodeOne(field, in: message))
          #expect(
            decoded.textFormatString().contains("\(field.name) ") || decoded.textFormatString().contains("\(field.name):"),
            "\(fullName).\(field.name) = \(field.number) does not decode into \(swiftType): \(decoded.textFormatString())")
          #expect(decoded.unknownFields.data.isEmpty, "\(fullName).\(field.name) = \(field.number) is unknown to \(swiftType)")
        }
      }
    }
    #expect(described == Set(swiftTypes.keys), "messages in Protos/ and generated types differ")
  }

  /// The binary encoding of a message with only `field` set to a non-default value.
  private func encodeOne(_ field: Google_Protobuf_FieldDescriptorProto, in message: Google_Protobuf_DescriptorProto) -> Data {
    func varint(_ value: UInt64) -> [UInt8] {
      var value = value
      var bytes: [UInt8] = []
      repeat {
        var byte = UInt8(value & 0x7f)
        value >>= 7
        if value != 0 { byte |= 0x80 }
        bytes.append(byte)
      } while value != 0
      return bytes
    }
    func tag(_ number: Int32, _ wireType: UInt64) -> [UInt8] { varint(UInt64(number) << 3 | wireType) }
    func delimited(_ number: Int32, _ body: [UInt8]) -> [UInt8] { tag(number, 2) + varint(UInt64(body.count)) + body }

    func value(_ type: Google_Protobuf_FieldDescriptorProto.TypeEnum, number: Int32) -> [UInt8] {
      switch type {
      case .bool, .int32, .int64, .uint32, .uint64, .enum: return tag(number, 0) + [1]
      case .string, .bytes: return delimited(number, Array("x".utf8))
      default: return delimited(number, [])  // a message: empty is enough
      }
    }
    if field.label == .repeated, field.type == .message,
      let entry = message.nestedType.first(where: { field.typeName.hasSuffix("." + $0.name) && $0.options.mapEntry })
    {
      let valueField = entry.field.first { $0.number == 2 }!
      return Data(delimited(field.number, delimited(1, Array("k".utf8)) + value(valueField.type, number: 2)))
    }
    return Data(value(field.type, number: field.number))
  }
}

struct ProcessOutput {
  var status: Int32
  var text: String
}

/// Runs a program to completion (bounded) and returns its exit status and combined output.
func run(_ path: String, _ arguments: [String], in directory: URL, timeout: TimeInterval = 60) throws -> ProcessOutput {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: path)
  process.arguments = arguments
  process.currentDirectoryURL = directory
  let pipe = Pipe()
  process.standardOutput = pipe
  process.standardError = pipe
  let exited = DispatchSemaphore(value: 0)
  process.terminationHandler = { _ in exited.signal() }
  try process.run()
  let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
  if exited.wait(timeout: .now() + timeout) == .timedOut {
    process.terminate()
    return ProcessOutput(status: -1, text: "timed out: \(text)")
  }
  return ProcessOutput(status: process.terminationStatus, text: text)
}
