// Two agents on one in-process runtime, both subscribed to the default topic.
//
// One publish of "Hello!" starts them off; each agent answers every message it receives from the
// other by publishing "<name>: Hello x N", until each has published exactly five times.
//
//   swift run InProcessChat
//
// The same Greeter runs across processes in `example-worker hello` (see scripts/demo.sh).
import AgentCore
import ExampleAgents

let (finished, finishedContinuation) = AsyncStream<AgentId>.makeStream()
try await withInProcessRuntime { runtime in
  for name in ["worker1", "worker2"] {
    try await runtime.register(try AgentType(name), subscriptions: [.defaultTopic]) { id, runtime in
      Greeter(id: id, runtime: runtime, say: { print($0) }, done: { finishedContinuation.yield($0) })
    }
  }
  try await runtime.publish(Greeting(text: "Hello!"), to: .default())
  var done = 0
  for await _ in finished {
    done += 1
    if done == 2 { break }
  }
}
