"""Smoke test: two AutoGen Python workers (autogen-ext[grpc] 0.7.5) exchange a publish and an RPC
through our runtime-host.

    python smoke_python_workers.py HOST:PORT

Prints one line per check and exits 0 when all pass. Every wait is bounded.
"""

import asyncio
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

TIMEOUT = 15


@dataclass
class Greeting:
    text: str


@dataclass
class Question:
    text: str


@dataclass
class Answer:
    text: str


@default_subscription
class Receiver(RoutedAgent):
    def __init__(self, greetings: "asyncio.Queue[str]") -> None:
        super().__init__("receives greetings, answers questions")
        self._greetings = greetings

    @message_handler
    async def on_greeting(self, message: Greeting, ctx: MessageContext) -> None:
        await self._greetings.put(f"{self.id} got {message.text!r} on {ctx.topic_id}")

    @message_handler
    async def on_question(self, message: Question, ctx: MessageContext) -> Answer:
        return Answer(text=f"{self.id.key} answers {message.text!r}")


def serializers():
    return [s for t in (Greeting, Question, Answer) for s in try_get_known_serializers_for_type(t)]


async def main(address: str) -> int:
    failures = 0
    passed = 0

    def check(name: str, ok: bool, detail: str) -> None:
        nonlocal failures, passed
        print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)
        if ok:
            passed += 1
        else:
            failures += 1

    greetings: "asyncio.Queue[str]" = asyncio.Queue()
    receiver_runtime = GrpcWorkerAgentRuntime(host_address=address)
    sender_runtime = GrpcWorkerAgentRuntime(host_address=address)
    for runtime in (receiver_runtime, sender_runtime):
        runtime.add_message_serializer(serializers())
        await runtime.start()
    try:
        await Receiver.register(receiver_runtime, "receiver", lambda: Receiver(greetings))
        # Readiness: an RPC through the host to the receiver proves its channel is routed.
        ready = await asyncio.wait_for(
            receiver_runtime.send_message(Question("ready?"), AgentId("receiver", "probe")), TIMEOUT
        )
        check("registration", isinstance(ready, Answer), repr(ready))

        await sender_runtime.publish_message(Greeting("hello from python"), DefaultTopicId())
        got = await asyncio.wait_for(greetings.get(), TIMEOUT)
        check("publish", got == "receiver/default got 'hello from python' on default/default", got)

        answer = await asyncio.wait_for(
            sender_runtime.send_message(Question("2+2?"), AgentId("receiver", "k1")), TIMEOUT
        )
        check("rpc", answer == Answer(text="k1 answers '2+2?'"), repr(answer))

        # AutoGen's own host never answers this one; ours does, at once.
        try:
            await asyncio.wait_for(sender_runtime.send_message(Question("?"), AgentId("nobody", "k")), TIMEOUT)
            check("rpc to unknown type", False, "no error")
        except asyncio.TimeoutError:
            check("rpc to unknown type", False, "hung until the test's timeout")
        except Exception as error:  # noqa: BLE001 - the runtime raises a plain Exception with the text
            check("rpc to unknown type", "no worker serves agent type 'nobody'" in str(error), str(error))
    finally:
        for runtime in (sender_runtime, receiver_runtime):
            await asyncio.wait_for(runtime.stop(), TIMEOUT)
    print(f"python-smoke: {passed} passed, {failures} failed", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1])))
