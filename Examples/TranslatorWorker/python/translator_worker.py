"""The same worker in AutoGen Python (autogen-ext[grpc] 0.7.5), for comparison with the Swift one.

    python translator_worker.py HOST:PORT
"""

import asyncio
import signal
import sys
from dataclasses import dataclass

from autogen_core import MessageContext, RoutedAgent, message_handler, try_get_known_serializers_for_type, type_subscription
from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntime

WORDS = {"fr": {"hello": "bonjour", "world": "monde"}, "de": {"hello": "hallo", "world": "welt"}}


@dataclass
class TranslateRequest:
    text: str
    to: str


@dataclass
class TranslateReply:
    text: str


@dataclass
class AuditEvent:
    what: str


@dataclass
class AuditCount:
    pass


@dataclass
class AuditTotal:
    count: int


class Translator(RoutedAgent):
    def __init__(self) -> None:
        super().__init__("translates")

    @message_handler
    async def on_translate(self, message: TranslateRequest, ctx: MessageContext) -> TranslateReply:
        if message.to not in WORDS:
            raise ValueError(f"no dictionary for '{message.to}'")
        words = [WORDS[message.to].get(w, w) for w in message.text.lower().split(" ")]
        return TranslateReply(" ".join(words))


@type_subscription("audit.events")
class Auditor(RoutedAgent):
    def __init__(self) -> None:
        super().__init__("counts audit events")
        self.count = 0

    @message_handler
    async def on_event(self, message: AuditEvent, ctx: MessageContext) -> None:
        self.count += 1

    @message_handler
    async def on_count(self, message: AuditCount, ctx: MessageContext) -> AuditTotal:
        return AuditTotal(self.count)


async def main(address: str) -> None:
    runtime = GrpcWorkerAgentRuntime(host_address=address)
    types = (TranslateRequest, TranslateReply, AuditEvent, AuditCount, AuditTotal)
    runtime.add_message_serializer([s for t in types for s in try_get_known_serializers_for_type(t)])
    await runtime.start()
    await Translator.register(runtime, "translator", Translator)
    await Auditor.register(runtime, "auditor", Auditor)
    print(f"translator_worker.py serving on {address}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await runtime.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
