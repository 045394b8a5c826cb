// translator-worker [HOST:PORT] — serves the Translator and the Auditor until SIGINT or SIGTERM.
// The host is the argument, else $RUNTIME_HOST_ADDRESS; the other RUNTIME_HOST_* variables apply.
import AgentCore
import GrpcWorker
import TranslatorAgents

let argument = CommandLine.arguments.dropFirst().first
let configuration = try argument.map { try GrpcWorkerRuntime.Configuration(host: $0) } ?? .fromEnvironment()
try await withGrpcWorkerUntilSignal(configuration: configuration) { worker in
  try await registerTranslatorAgents(on: worker)
  print("translator-worker serving on \(configuration.host)")
}
