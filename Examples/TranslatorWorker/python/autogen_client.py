"""An AutoGen Python program (autogen-ext[grpc] 0.7.5) calling and publishing to the Swift
translator-worker through a host.

    python autogen_client.py HOST:PORT

It asks the Swift Translator for a translation over RPC, publishes two AuditEvents to
audit.events/py, then asks the Swift Auditor (auditor/py) how many it counted. The dataclasses
(from translator_worker.py) have the Swift Codable structs' names and fields: that is all JSON
needs to cross languages.
Exits non-zero when an answer is not the expected one.
"""

import asyncio
import sys

from autogen_core import AgentId, TopicId, try_get_known_serializers_for_type
from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntime

# The same dataclasses as the Python version of the worker (names and fields of the Swift structs).
from translator_worker import AuditCount, AuditEvent, AuditTotal, TranslateReply, TranslateRequest


async def main(address: str) -> None:
    runtime = GrpcWorkerAgentRuntime(host_address=address)
    types = (TranslateRequest, TranslateReply, AuditEvent, AuditCount, AuditTotal)
    runtime.add_message_serializer([s for t in types for s in try_get_known_serializers_for_type(t)])
    await runtime.start()
    try:
        reply = await asyncio.wait_for(
            runtime.send_message(TranslateRequest("hello world", "de"), AgentId("translator", "default")), 30
        )
        print(f"python asked the Swift translator: {reply.text}")
        assert reply == TranslateReply("hallo welt"), reply
        for what in ("login", "logout"):
            await runtime.publish_message(AuditEvent(what), TopicId("audit.events", "py"))
        total = await asyncio.wait_for(runtime.send_message(AuditCount(), AgentId("auditor", "py")), 30)
        print(f"python asked the Swift auditor: {total.count} events")
        assert total == AuditTotal(2), total
    finally:
        await asyncio.wait_for(runtime.stop(), 30)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
