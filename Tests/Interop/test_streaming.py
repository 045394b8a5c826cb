"""Streamed results across languages: an AutoGen Python agent streams to a Swift worker and to an
HTTP (SSE) caller through runtime-host, with no change to AutoGen (see StreamedCallWire).

The Python agent publishes each chunk to the topic ("agstream.<ctx.message_id>", "<sequence>");
our host forwards those events to the caller only, in order, and the RPC's response ends the stream.
"""

import asyncio
import http.client
import json
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass

from autogen_core import AgentId, MessageContext, RoutedAgent, TopicId, message_handler, try_get_known_serializers_for_type
from conftest import WAIT, autogen_host, our_host_with_http, swift_peer
from test_interop import Command, CommandResult, InteropAnswer, InteropQuestion, python_worker, run


@dataclass
class InteropChunk:
    text: str


class Streamer(RoutedAgent):
    """Streams 'chunk 1' … 'chunk N' (N = the question's text), then answers."""

    def __init__(self) -> None:
        super().__init__("streams chunks, then answers")

    @message_handler
    async def on_question(self, message: InteropQuestion, ctx: MessageContext) -> InteropAnswer:
        for sequence in range(1, int(message.text) + 1):
            await self.publish_message(InteropChunk(f"chunk {sequence}"), TopicId(f"agstream.{ctx.message_id}", str(sequence)))
            await asyncio.sleep(0)  # let AutoGen's worker send the publish before the response
        return InteropAnswer(text=f"streamed {message.text}", source=str(self.id))


async def streaming_worker(stack: AsyncExitStack, address: str):
    runtime = await stack.enter_async_context(python_worker(address))
    runtime.add_message_serializer(try_get_known_serializers_for_type(InteropChunk))
    await Streamer.register(runtime, "py_streamer", Streamer)
    return runtime


async def ask_stream(caller, text: str) -> CommandResult:
    return await asyncio.wait_for(
        caller.send_message(Command("ask_stream", "py_streamer", "s1", text, 10_000), AgentId("swift_driver", "d")), WAIT
    )


def sse_call(address: str, path: str, body: dict) -> list[tuple[str, dict]]:
    """POSTs with Accept: text/event-stream and returns the (event, data) pairs until the stream ends."""
    host, port = address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=WAIT)
    try:
        connection.request(
            "POST", path, body=json.dumps(body), headers={"Accept": "text/event-stream", "Content-Type": "application/json"}
        )
        response = connection.getresponse()
        assert response.status == 200, response.status
        events, event, data = [], None, []
        for raw in response:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[len("event: "):]
            elif line.startswith("data: "):
                data.append(line[len("data: "):])
            elif line == "" and event is not None:
                events.append((event, json.loads("\n".join(data))))
                event, data = None, []
        return events
    finally:
        connection.close()


def test_python_agent_streams_to_a_swift_worker_and_to_an_http_caller():
    async def scenario():
        async with our_host_with_http() as (address, http_address), AsyncExitStack() as stack:
            await stack.enter_async_context(swift_peer(address))
            caller = await streaming_worker(stack, address)
            result = await ask_stream(caller, "3")
            assert result.ok, result
            assert result.text == "chunks: chunk 1,chunk 2,chunk 3 | streamed 3", result

            events = await asyncio.to_thread(sse_call, http_address, "/v1/agents/py_streamer/s2?type=InteropQuestion", {"text": "4"})
            assert [event for event, _ in events] == ["chunk"] * 4 + ["result"], events
            assert [data["data"]["text"] for _, data in events[:4]] == [f"chunk {n}" for n in range(1, 5)]
            assert all(data["type"] == "InteropChunk" for _, data in events[:4])
            assert events[4][1]["data"] == {"text": "streamed 4", "source": "py_streamer/s2"}

            # A plain call to the same agent gets the answer alone: the chunks go nowhere.
            plain = await caller.send_message(InteropQuestion("2"), AgentId("py_streamer", "s3"))
            assert plain == InteropAnswer(text="streamed 2", source="py_streamer/s3")

    run(scenario())


def test_on_autogens_host_a_streamed_call_gets_the_answer_only():
    async def scenario():
        async with autogen_host() as address, AsyncExitStack() as stack:
            await stack.enter_async_context(swift_peer(address))
            caller = await streaming_worker(stack, address)
            result = await ask_stream(caller, "3")
            assert result.ok, result
            assert result.text == "chunks:  | streamed 3", result

    run(scenario())


def test_sse_call_ends_with_an_error_within_a_second_when_the_callee_is_killed():
    """An HTTP caller streams from an agent whose worker is SIGKILLed mid-call: its stream ends with
    event: error at once, and the host serves the next caller."""

    async def scenario():
        async with our_host_with_http() as (address, http_address), AsyncExitStack() as stack:
            peer = await stack.enter_async_context(swift_peer(address))
            call = asyncio.create_task(
                asyncio.to_thread(sse_call, http_address, "/v1/agents/swift_echo/h?type=InteropQuestion", {"text": "hang"})
            )
            assert await asyncio.to_thread(peer.read_line) == "hanging"
            killed_at = time.monotonic()
            peer.killed = True
            peer.proc.kill()
            events = await asyncio.wait_for(call, WAIT)
            elapsed = time.monotonic() - killed_at
            assert [event for event, _ in events] == ["error"], events
            assert events[0][1]["code"] == "unavailable" and "disconnected before responding" in events[0][1]["message"], events
            assert events[0][1]["status"] == 503
            assert elapsed < 1.0, f"the stream ended {elapsed:.3f} s after SIGKILL"
            print(f"SSE stream ended {elapsed * 1000:.0f} ms after the callee was SIGKILLed")
            # The host carries on: a new worker serves the next caller.
            await stack.enter_async_context(swift_peer(address))
            events = await asyncio.to_thread(sse_call, http_address, "/v1/agents/swift_echo/h?type=InteropQuestion", {"text": "back"})
            assert events == [("result", {"contentType": "application/json", "type": "InteropAnswer",
                                          "data": {"text": "swift answers back", "source": "swift_echo/h"}})], events

    run(scenario())
