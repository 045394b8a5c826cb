"""An AutoGen Python agent (autogen-ext[grpc] 0.7.5) that streams its answer to any caller of
runtime-host: a Swift worker, an HTTP client (SSE) or agentctl.

    python python_streamer.py HOST:PORT

It hosts `py_writer`, which answers a Question with an Answer and, before that, streams each word
as an AnswerChunk. Streaming needs no change to AutoGen: a chunk is an ordinary publish to the topic
("agstream.<request id>", "<sequence number>"), and the request id is what the handler sees as
ctx.message_id. runtime-host forwards those events to the caller only, in order, and ends the
stream with the RPC's response. A caller that did not ask for a stream gets the answer alone.
Prints "ready: py_writer" on stderr once registered, then serves until SIGTERM or SIGINT.
"""

import asyncio
import os
import signal
import sys
from dataclasses import dataclass

from autogen_core import MessageContext, RoutedAgent, TopicId, message_handler, try_get_known_serializers_for_type
from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntime

from agents_auth import start_with_token


# The same names and fields as the Swift Codable structs in Examples/ExampleAgents/Oracle.swift.
@dataclass
class Question:
    text: str


@dataclass
class Answer:
    text: str
    confidence: float


@dataclass
class AnswerChunk:
    text: str


async def stream(agent: RoutedAgent, ctx: MessageContext, sequence: int, chunk: object) -> None:
    """Streams `chunk` to the caller of the RPC being handled (sequence numbers start at 1)."""
    await agent.publish_message(chunk, TopicId(f"agstream.{ctx.message_id}", str(sequence)))
    # AutoGen's worker sends a publish from a task it schedules; yielding lets that task write the
    # chunk before the handler's response, which ends the stream.
    await asyncio.sleep(0)


class PythonWriter(RoutedAgent):
    def __init__(self) -> None:
        super().__init__("answers questions, streaming word by word")

    @message_handler
    async def on_question(self, message: Question, ctx: MessageContext) -> Answer:
        text = f"{self.id} (Python) says: '{message.text}' deserves a streamed answer"
        for sequence, word in enumerate(text.split(" "), start=1):
            await stream(self, ctx, sequence, AnswerChunk(word))
        return Answer(text=text, confidence=0.5)


async def main(address: str) -> None:
    runtime = GrpcWorkerAgentRuntime(host_address=address)
    runtime.add_message_serializer(
        [s for t in (Question, Answer, AnswerChunk) for s in try_get_known_serializers_for_type(t)]
    )
    # The token of this worker's identity, when the host requires one (agents_auth.py).
    await start_with_token(runtime, os.environ.get("AGENTS_TOKEN"))
    try:
        await PythonWriter.register(runtime, "py_writer", PythonWriter)
        print("ready: py_writer", file=sys.stderr, flush=True)
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await asyncio.wait_for(runtime.stop(), 30)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
