"""Host CPU per message with AutoGen's own Python stub clients (grpcio, autogen-ext[grpc] 0.7.5).

    python python_clients.py HOST:PORT HOST_PID [--messages N] [--calls N] [--calls16 N]

The clients send one message per write, as AutoGen's Python worker does (no batching). For each
workload it prints throughput or latency and the host's CPU time per message or call, read from
/proc/HOST_PID/stat over the measured interval (clock ticks: 10 ms resolution, so runs are sized to
take seconds). Loopback only.
"""

import argparse
import asyncio
import os
import statistics
import time
import uuid

import grpc
from autogen_ext.runtimes.grpc.protos import agent_worker_pb2 as pb
from autogen_ext.runtimes.grpc.protos import agent_worker_pb2_grpc as rpc
from autogen_ext.runtimes.grpc.protos import cloudevent_pb2 as ce

TICK = os.sysconf("SC_CLK_TCK")
DATA = b'{"index":0,"text":"benchmark message padding padding padding padding padding padding padding"}'


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


class Channel:
    """One OpenChannel stream: a worker, with its client id."""

    def __init__(self, stub: rpc.AgentRpcStub) -> None:
        self.client_id = str(uuid.uuid4())
        self.metadata = [("client-id", self.client_id)]
        self.outbox: asyncio.Queue = asyncio.Queue()
        self.call = stub.OpenChannel(self._requests(), metadata=self.metadata)

    async def _requests(self):
        while True:
            message = await self.outbox.get()
            if message is None:
                return
            yield message

    async def send(self, message: pb.Message) -> None:
        await self.outbox.put(message)

    async def close(self) -> None:
        await self.outbox.put(None)
        self.call.cancel()


async def registered(stub, channel: Channel, agent_type: str, topic: str | None = None) -> None:
    await asyncio.sleep(0.2)  # the host must have seen the channel before registration (AutoGen's host)
    await stub.RegisterAgent(pb.RegisterAgentTypeRequest(type=agent_type), metadata=channel.metadata, timeout=10)
    if topic:
        subscription = pb.Subscription(
            id=str(uuid.uuid4()), typeSubscription=pb.TypeSubscription(topic_type=topic, agent_type=agent_type)
        )
        await stub.AddSubscription(pb.AddSubscriptionRequest(subscription=subscription), metadata=channel.metadata, timeout=10)


def event(index: int) -> pb.Message:
    attributes = {
        "datacontenttype": ce.CloudEvent.CloudEventAttributeValue(ce_string="application/json"),
        "dataschema": ce.CloudEvent.CloudEventAttributeValue(ce_string="BenchMessage"),
        "agmsgkind": ce.CloudEvent.CloudEventAttributeValue(ce_string="publish"),
    }
    return pb.Message(
        cloudEvent=ce.CloudEvent(
            id=str(index), source="sink", spec_version="1.0", type="bench.topic", attributes=attributes, binary_data=DATA
        )
    )


async def publish(stub, pid: int, count: int) -> tuple[float, float]:
    sink, publisher = Channel(stub), Channel(stub)
    await registered(stub, sink, "bench_sink", "bench.topic")
    received = 0
    done = asyncio.Event()

    async def drain():
        nonlocal received
        async for message in sink.call:
            if message.HasField("cloudEvent"):
                received += 1
                if received == count:
                    done.set()

    reader = asyncio.create_task(drain())
    messages = [event(i) for i in range(count)]
    started, cpu = time.monotonic(), cpu_seconds(pid)
    for message in messages:
        await publisher.send(message)
        await asyncio.sleep(0)  # one write per message, as a Python worker's queue gives them
    await asyncio.wait_for(done.wait(), 120)
    seconds, used = time.monotonic() - started, cpu_seconds(pid) - cpu
    reader.cancel()
    await sink.close()
    await publisher.close()
    return count / seconds, used / count * 1e6


async def rpcs(stub, pid: int, callers: int, calls: int) -> tuple[float, float, float]:
    echo = Channel(stub)
    await registered(stub, echo, "bench_echo")

    async def answer():
        async for message in echo.call:
            if message.HasField("request"):
                await echo.send(pb.Message(response=pb.RpcResponse(
                    request_id=message.request.request_id,
                    payload=pb.Payload(data_type="BenchMessage", data_content_type="application/json", data=DATA))))

    answering = asyncio.create_task(answer())
    channels = [Channel(stub) for _ in range(callers)]
    await asyncio.sleep(0.2)
    latencies: list[float] = []

    async def caller(index: int, channel: Channel):
        responses = channel.call.__aiter__()
        for call in range(calls):
            request_id = f"{index}-{call}"
            started = time.monotonic()
            await channel.send(pb.Message(request=pb.RpcRequest(
                request_id=request_id, target=pb.AgentId(type="bench_echo", key=f"k{index}"),
                payload=pb.Payload(data_type="BenchMessage", data_content_type="application/json", data=DATA))))
            while True:
                message = await asyncio.wait_for(responses.__anext__(), 30)
                if message.HasField("response") and message.response.request_id == request_id:
                    break
            latencies.append(time.monotonic() - started)

    started, cpu = time.monotonic(), cpu_seconds(pid)
    await asyncio.gather(*(caller(i, c) for i, c in enumerate(channels)))
    seconds, used = time.monotonic() - started, cpu_seconds(pid) - cpu
    answering.cancel()
    for channel in channels + [echo]:
        await channel.close()
    total = callers * calls
    return total / seconds, statistics.median(latencies) * 1e6, used / total * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("address")
    parser.add_argument("pid", type=int)
    parser.add_argument("--label", default="host")
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--calls16", type=int, default=250)
    args = parser.parse_args()
    async with grpc.aio.insecure_channel(args.address) as connection:
        stub = rpc.AgentRpcStub(connection)
        rate, cpu = await publish(stub, args.pid, args.messages)
        print(f"{args.label} | python clients | publish | {rate:,.0f} msg/s | host CPU {cpu:.0f} µs/message")
        rate, p50, cpu = await rpcs(stub, args.pid, 1, args.calls)
        print(f"{args.label} | python clients | rpc x1 | {rate:,.0f} calls/s, p50 {p50:.0f} µs | host CPU {cpu:.0f} µs/call")
        rate, p50, cpu = await rpcs(stub, args.pid, 16, args.calls16)
        print(f"{args.label} | python clients | rpc x16 | {rate:,.0f} calls/s, p50 {p50:.0f} µs | host CPU {cpu:.0f} µs/call")


if __name__ == "__main__":
    asyncio.run(main())
