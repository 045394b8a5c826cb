// translator-worker HOST:PORT — serves the Translator and the Auditor until SIGINT or SIGTERM.
import AgentCore
import GrpcWorker
import TranslatorAgents

let address = CommandLine.arguments.dropFirst().first ?? "localhost:50051"
try await withGrpcWorkerUntilSignal(configuration: try .init(host: address), serializers: translatorSerializers) { worker in
  try await registerTranslatorAgents(on: worker)
  print("translator-worker serving on \(address)")
}
