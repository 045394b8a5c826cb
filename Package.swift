// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
  .swiftLanguageMode(.v6),
  .enableUpcomingFeature("ExistentialAny"),
  .enableUpcomingFeature("MemberImportVisibility"),
  .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
  name: "swift-agent-runtime",
  platforms: [.macOS(.v15)],
  products: [
    .library(name: "AgentCore", targets: ["AgentCore"]),
    .library(name: "GrpcHost", targets: ["GrpcHost"]),
    .library(name: "GrpcWorker", targets: ["GrpcWorker"]),
    .library(name: "AgentRuntimeTesting", targets: ["AgentRuntimeTesting"]),
    .library(name: "AgentStateSQLite", targets: ["AgentStateSQLite"]),
    .library(name: "AgentStatePostgres", targets: ["AgentStatePostgres"]),
    .executable(name: "runtime-host", targets: ["RuntimeHost"]),
    .executable(name: "example-worker", targets: ["ExampleWorker"]),
    .executable(name: "runtime-bench", targets: ["RuntimeBench"]),
    .executable(name: "agentctl", targets: ["AgentCtl"]),
  ],
  dependencies: [
    .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
    .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
    .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
    .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0", traits: []),
    .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
    .package(url: "https://github.com/vapor/sqlite-nio.git", from: "1.13.2"),
    .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
    .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
    .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
    .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
    .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
    .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
    .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
    // OTLP export for the executables only; OTLP/HTTP (the gRPC exporter would build a second copy of the OTLP service stubs).
    .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
    .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    // Documentation only (`swift package generate-documentation`); nothing links it.
    .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
  ],
  targets: [
    // The domain model and the in-process runtime. No gRPC, no NIO.
    .target(
      name: "AgentCore",
      dependencies: [
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Tracing", package: "swift-distributed-tracing"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: swiftSettings
    ),
    // Generated code for the `agents.AgentRpc` protocol plus conversions to core types.
    .target(
      name: "AgentWire",
      dependencies: [
        "AgentCore",
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
      ],
      exclude: ["Generated/PROTOS.sha256"],
      swiftSettings: swiftSettings
    ),
    .target(
      name: "GrpcHost",
      dependencies: [
        "AgentCore",
        "AgentWire",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "JWTKit", package: "jwt-kit"),
        .product(name: "X509", package: "swift-certificates"),
        .product(name: "UnixSignals", package: "swift-service-lifecycle"),
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "HummingbirdTLS", package: "hummingbird"),
        .product(name: "HummingbirdCore", package: "hummingbird"),
        .product(name: "HTTPTypes", package: "swift-http-types"),
        .product(name: "DequeModule", package: "swift-collections"),
        .product(name: "Tracing", package: "swift-distributed-tracing"),
      ],
      exclude: ["Console/Assets"],
      swiftSettings: swiftSettings
    ),
    .target(
      name: "GrpcWorker",
      dependencies: [
        "AgentCore",
        "AgentWire",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "UnixSignals", package: "swift-service-lifecycle"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "Tracing", package: "swift-distributed-tracing"),
      ],
      swiftSettings: swiftSettings
    ),
    // For users' tests: a host and workers in one process over gRPC's in-process transport, a
    // recorder agent, a serializing in-process runtime.
    .target(
      name: "AgentRuntimeTesting",
      dependencies: [
        "AgentCore", "GrpcHost", "GrpcWorker",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCInProcessTransport", package: "grpc-swift-2"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings
    ),
    // OpenTelemetry export (swift-otel) for the executables: never for the libraries.
    .target(
      name: "AgentTelemetry",
      dependencies: [
        .product(name: "OTel", package: "swift-otel"),
        .product(name: "Tracing", package: "swift-distributed-tracing"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings
    ),
    // Agent state in an embedded SQLite file (a product apart, so that workers need not build SQLite).
    .target(
      name: "AgentStateSQLite",
      dependencies: [
        "AgentCore",
        .product(name: "SQLiteNIO", package: "sqlite-nio"),
        .product(name: "NIOCore", package: "swift-nio"),
      ],
      swiftSettings: swiftSettings
    ),
    // Agent state in PostgreSQL (postgres-nio): for the host, never for workers.
    .target(
      name: "AgentStatePostgres",
      dependencies: [
        "AgentCore",
        .product(name: "PostgresNIO", package: "postgres-nio"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      swiftSettings: swiftSettings
    ),
    // Host replicas as one cluster: the shared directory in PostgreSQL (for runtime-host, not workers).
    .target(
      name: "HostCluster",
      dependencies: [
        "AgentCore",
        "GrpcHost",
        .product(name: "PostgresNIO", package: "postgres-nio"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      swiftSettings: swiftSettings
    ),
    .executableTarget(
      name: "RuntimeHost",
      dependencies: [
        "GrpcHost", "HostCluster", "AgentStateSQLite", "AgentStatePostgres", "AgentTelemetry",
        .product(name: "Metrics", package: "swift-metrics"),
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "UnixSignals", package: "swift-service-lifecycle"),
      ],
      swiftSettings: swiftSettings
    ),
    // agentctl: call, publish to and watch agents from a shell, over the gRPC gateway.
    .executableTarget(
      name: "AgentCtl",
      dependencies: [
        "AgentCore", "AgentWire", "AgentTelemetry",
        .product(name: "Tracing", package: "swift-distributed-tracing"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: swiftSettings
    ),
    // The benchmark: swift run -c release runtime-bench (see docs/PERFORMANCE.md).
    .executableTarget(
      name: "RuntimeBench",
      dependencies: [
        "AgentCore", "AgentWire", "GrpcWorker", "AgentTelemetry",
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: swiftSettings
    ),
    // Examples: agent code shared by the in-process and the multi-process examples.
    .target(
      name: "ExampleAgents",
      dependencies: ["AgentCore"],
      path: "Examples/ExampleAgents",
      swiftSettings: swiftSettings
    ),
    .executableTarget(
      name: "InProcessChat",
      dependencies: ["AgentCore", "ExampleAgents"],
      path: "Examples/InProcessChat",
      swiftSettings: swiftSettings
    ),
    .executableTarget(
      name: "ExampleWorker",
      dependencies: [
        "AgentCore", "ExampleAgents", "GrpcWorker", "AgentTelemetry",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "UnixSignals", package: "swift-service-lifecycle"),
      ],
      path: "Examples/ExampleWorker",
      swiftSettings: swiftSettings
    ),
    // The Swift side of the Python interop tests (Tests/Interop/test_interop.py).
    .executableTarget(
      name: "InteropPeer",
      dependencies: [
        "AgentCore", "AgentWire", "GrpcWorker", "AgentTelemetry",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "UnixSignals", package: "swift-service-lifecycle"),
      ],
      path: "Tests/Interop/SwiftPeer",
      swiftSettings: swiftSettings
    ),
    // Messages, agents and helpers shared by the test suites.
    .target(
      name: "AgentTestSupport",
      dependencies: [
        "AgentCore", "ExampleAgents", "AgentRuntimeTesting", "AgentStateSQLite", "AgentStatePostgres",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      path: "Tests/AgentTestSupport",
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "AgentCoreTests",
      dependencies: [
        "AgentCore", "AgentTestSupport", "AgentStateSQLite", "AgentStatePostgres",
        .product(name: "PostgresNIO", package: "postgres-nio"),
        .product(name: "SQLiteNIO", package: "sqlite-nio"),
      ],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "RuntimeTests",
      dependencies: [
        "AgentCore", "AgentWire", "AgentTestSupport", "ExampleAgents", "GrpcHost", "GrpcWorker", "AgentRuntimeTesting",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCInProcessTransport", package: "grpc-swift-2"),
        .product(name: "Tracing", package: "swift-distributed-tracing"),
        .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "GrpcHostTests",
      dependencies: [
        "GrpcHost", "AgentWire", "AgentCore", "GrpcWorker", "AgentTestSupport", "AgentRuntimeTesting",
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "NIOFoundationCompat", package: "swift-nio"),
        .product(name: "HTTPTypes", package: "swift-http-types"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "JWTKit", package: "jwt-kit"),
        .product(name: "Tracing", package: "swift-distributed-tracing"),
        .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "HostClusterTests",
      dependencies: [
        "HostCluster", "GrpcHost", "GrpcWorker", "AgentRuntimeTesting", "AgentCore", "AgentTestSupport",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "PostgresNIO", package: "postgres-nio"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "AgentWireTests",
      dependencies: ["AgentWire", "AgentCore"],
      swiftSettings: swiftSettings
    ),
  ]
)
