// swift-tools-version:6.1
// A worker program as a user starts one: its own package, depending on swift-agent-runtime (here by
// path; from your own package, use its git URL and a version).
import PackageDescription

let package = Package(
  name: "TranslatorWorker",
  platforms: [.macOS(.v15)],
  dependencies: [
    .package(name: "swift-agent-runtime", path: "../.."),
  ],
  targets: [
    // The agents and their messages: only AgentCore, so they run in process and in tests too.
    .target(
      name: "TranslatorAgents",
      dependencies: [.product(name: "AgentCore", package: "swift-agent-runtime")]
    ),
    // The worker program: connects to a host and serves until SIGINT or SIGTERM.
    .executableTarget(
      name: "translator-worker",
      dependencies: ["TranslatorAgents", .product(name: "GrpcWorker", package: "swift-agent-runtime")]
    ),
    // Unit tests on the serializing in-process runtime, and a host with the worker in one process.
    .testTarget(
      name: "TranslatorAgentsTests",
      dependencies: [
        "TranslatorAgents",
        .product(name: "AgentCore", package: "swift-agent-runtime"),
        .product(name: "AgentRuntimeTesting", package: "swift-agent-runtime"),
      ]
    ),
  ],
  swiftLanguageModes: [.v6]
)
