"""An AutoGen Python worker (autogen-ext[grpc] 0.7.5) talking to Swift workers through runtime-host.

    python python_worker.py HOST:PORT

It asks the Swift oracle a question over RPC (typed dataclass answer), then hosts a greeter that
joins the Swift greeter on the default topic: one "Hello!" and each side publishes five greetings.
The dataclasses have the same names and fields as the Swift Codable structs in
Examples/ExampleAgents, which is all it takes for JSON messages to cross languages.
"""

import asyncio
import os
import sys
from dataclasses import dataclass

from autogen_core import (
    AgentId,
    DefaultTopicId,
    MessageContext,
    RoutedAgent,
    default_subscription,
    message_handler,
    try_get_known_serializers_for_type,
)
from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntime

from agents_auth import start_with_token


def say(line: str) -> None:
    """One write per line, so lines from several processes sharing a pipe never interleave."""
    os.write(sys.stdout.fileno(), (line + "\n").encode())


@dataclass
class Greeting:
    text: str


@dataclass
class Question:
    text: str


@dataclass
class Answer:
    text: str
    confidence: float


@default_subscription
class PythonGreeter(RoutedAgent):
    def __init__(self, done: asyncio.Event, limit: int = 5) -> None:
        super().__init__("greets back, five times")
        self._done = done
        self._limit = limit
        self._published = 0

    @message_handler
    async def on_greeting(self, message: Greeting, ctx: MessageContext) -> None:
        if self._published >= self._limit:
            return
        self._published += 1
        text = f"{self.id.type}: Hello x {self._published}"
        say(text)
        await self.publish_message(Greeting(text), DefaultTopicId())
        if self._published == self._limit:
            self._done.set()


async def main(address: str) -> None:
    runtime = GrpcWorkerAgentRuntime(host_address=address)
    runtime.add_message_serializer([s for t in (Greeting, Question, Answer) for s in try_get_known_serializers_for_type(t)])
    # The token of this worker's identity, when the host requires one (agents_auth.py).
    await start_with_token(runtime, os.environ.get("AGENTS_TOKEN"))
    try:
        done = asyncio.Event()
        await PythonGreeter.register(runtime, "python_greeter", lambda: PythonGreeter(done))
        answer = await asyncio.wait_for(
            runtime.send_message(Question("What is six times seven?"), AgentId("oracle", "default")), 30
        )
        say(f"python asked the Swift oracle: {answer.text} (confidence {answer.confidence})")
        await runtime.publish_message(Greeting("Hello!"), DefaultTopicId())
        await asyncio.wait_for(done.wait(), 30)
    finally:
        await asyncio.wait_for(runtime.stop(), 30)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
