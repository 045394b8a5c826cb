"""Interop between our Swift host/worker and AutoGen's Python runtime (autogen-ext[grpc] 0.7.5).

- Python workers on our host (runtime-host).
- Mixed Swift and Python workers, on our host and on AutoGen's host (GrpcWorkerAgentRuntimeHost).
- Where AutoGen's Python worker misbehaves, our side turns it into a timely error.

The Swift side is Tests/Interop/SwiftPeer (interop-peer); Python drives it through its
swift_driver agent. Every wait is bounded by conftest.WAIT.
"""

import asyncio
import subprocess
import time
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import grpc
import pytest
from autogen_core import (
    JSON_DATA_CONTENT_TYPE,
    PROTOBUF_DATA_CONTENT_TYPE,
    AgentId,
    DefaultTopicId,
    MessageContext,
    RoutedAgent,
    TopicId,
    TypePrefixSubscription,
    default_subscription,
    message_handler,
    try_get_known_serializers_for_type,
    type_subscription,
)
from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntime
from autogen_ext.runtimes.grpc.protos import agent_worker_pb2, agent_worker_pb2_grpc
from conftest import HOST_RPC_TIMEOUT, WAIT, free_port, host, our_host, swift_peer
from google.protobuf.wrappers_pb2 import StringValue


# The same names and fields as the Swift Codable structs in SwiftPeer/InteropPeer.swift.
@dataclass
class InteropMessage:
    text: str
    count: int


@dataclass
class InteropQuestion:
    text: str


@dataclass
class InteropAnswer:
    text: str
    source: str


@dataclass
class InteropSilent:
    text: str


@dataclass
class Command:
    action: str
    target_type: str
    target_key: str
    text: str
    timeout_ms: int


@dataclass
class CommandResult:
    ok: bool
    text: str
    elapsed_ms: int


def serializers():
    types = (InteropMessage, InteropQuestion, InteropAnswer, InteropSilent, Command, CommandResult, StringValue)
    return [s for t in types for s in try_get_known_serializers_for_type(t)]


@default_subscription
@type_subscription(topic_type="interop.reply")
class Listener(RoutedAgent):
    """Records what it receives; answers InteropQuestion so it can serve as a readiness probe."""

    def __init__(self, received: "asyncio.Queue[tuple[str, str, object]]") -> None:
        super().__init__("records messages")
        self._received = received

    @message_handler
    async def on_json(self, message: InteropMessage, ctx: MessageContext) -> None:
        await self._received.put((str(self.id), str(ctx.topic_id), message))

    @message_handler
    async def on_proto(self, message: StringValue, ctx: MessageContext) -> None:
        await self._received.put((str(self.id), str(ctx.topic_id), message))

    @message_handler
    async def on_probe(self, message: InteropQuestion, ctx: MessageContext) -> InteropAnswer:
        return InteropAnswer(text="ready", source=str(self.id))


class Oracle(RoutedAgent):
    """Answers questions ('fail' raises; 'fail-silently' raises with no message, which AutoGen's
    worker answers with neither a result nor an error). InteropSilent handlers return None, and StringValue ones a
    protobuf message: AutoGen's worker then sends no reply at all."""

    created = 0

    def __init__(self) -> None:
        super().__init__("answers questions")
        Oracle.created += 1
        self._instance = Oracle.created
        self._calls = 0

    @message_handler
    async def on_question(self, message: InteropQuestion, ctx: MessageContext) -> InteropAnswer:
        if message.text == "fail":
            raise ValueError("python refuses: fail")
        if message.text == "fail-silently":
            raise ValueError()
        self._calls += 1
        return InteropAnswer(
            text=f"python answers {message.text} (instance {self._instance}, call {self._calls})", source=str(self.id)
        )

    @message_handler
    async def on_silent(self, message: InteropSilent, ctx: MessageContext) -> None:
        return None  # AutoGen cannot serialize None, so it sends no reply

    @message_handler
    async def on_proto(self, message: StringValue, ctx: MessageContext) -> StringValue:
        return StringValue(value=message.value.upper())  # AutoGen cannot send this back


@asynccontextmanager
async def python_worker(address: str, protobuf: bool = False):
    """An AutoGen Python worker. It publishes in one format only: JSON, or protobuf with `protobuf`."""
    runtime = GrpcWorkerAgentRuntime(
        host_address=address, payload_serialization_format=PROTOBUF_DATA_CONTENT_TYPE if protobuf else JSON_DATA_CONTENT_TYPE
    )
    runtime.add_message_serializer(serializers())
    await runtime.start()
    try:
        yield runtime
    finally:
        await asyncio.wait_for(runtime.stop(), WAIT)


async def ready(runtime: GrpcWorkerAgentRuntime, probe: AgentId) -> None:
    """An RPC through the host to `probe` proves the host routes to that agent's worker."""
    answer = await asyncio.wait_for(runtime.send_message(InteropQuestion("ready?"), probe), WAIT)
    assert answer == InteropAnswer(text="ready", source=str(probe))


async def listening_worker(stack: AsyncExitStack, address: str):
    """A Python worker hosting a Listener (default, 'interop.reply' and 'interop.pre' prefix) and an Oracle."""
    received: "asyncio.Queue[tuple[str, str, object]]" = asyncio.Queue()
    runtime = await stack.enter_async_context(python_worker(address))
    await Listener.register(runtime, "py_listener", lambda: Listener(received))
    await runtime.add_subscription(TypePrefixSubscription(topic_type_prefix="interop.pre", agent_type="py_listener"))
    await Oracle.register(runtime, "py_oracle", Oracle)
    await ready(runtime, AgentId("py_listener", "probe"))
    return runtime, received


async def next_received(received) -> tuple[str, str, object]:
    return await asyncio.wait_for(received.get(), WAIT)


async def expect_error(call, *fragments: str, within: float) -> str:
    started = time.monotonic()
    with pytest.raises(Exception) as info:
        await asyncio.wait_for(call, WAIT)
    elapsed = time.monotonic() - started
    assert not isinstance(info.value, asyncio.TimeoutError), "the call hung until the test's own timeout"
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)
    assert elapsed < within, f"the error took {elapsed:.1f} s"
    return str(info.value)


def run(coro):
    asyncio.run(asyncio.wait_for(coro, 5 * WAIT))


# -- Python workers on our host --------------------------------------------------------------------


def test_python_workers_publish_with_default_type_and_prefix_subscriptions():
    async def scenario():
        async with our_host() as address, AsyncExitStack() as stack:
            _, received = await listening_worker(stack, address)
            publisher = await stack.enter_async_context(python_worker(address))

            await publisher.publish_message(InteropMessage("via default", 1), DefaultTopicId())
            assert await next_received(received) == ("py_listener/default", "default/default", InteropMessage("via default", 1))

            await publisher.publish_message(InteropMessage("via type", 2), TopicId("interop.reply", "k1"))
            assert await next_received(received) == ("py_listener/k1", "interop.reply/k1", InteropMessage("via type", 2))

            await publisher.publish_message(InteropMessage("via prefix", 3), TopicId("interop.prefixed", "k2"))
            assert await next_received(received) == ("py_listener/k2", "interop.prefixed/k2", InteropMessage("via prefix", 3))

            proto_publisher = await stack.enter_async_context(python_worker(address, protobuf=True))
            await proto_publisher.publish_message(StringValue(value="protobuf"), TopicId("interop.reply", "k3"))
            assert await next_received(received) == ("py_listener/k3", "interop.reply/k3", StringValue(value="protobuf"))

    run(scenario())


def test_python_workers_rpc_keyed_instances_errors_and_unknown_type():
    async def scenario():
        async with our_host() as address, AsyncExitStack() as stack:
            await listening_worker(stack, address)
            caller = await stack.enter_async_context(python_worker(address))
            before = Oracle.created

            first = await asyncio.wait_for(caller.send_message(InteropQuestion("a"), AgentId("py_oracle", "k1")), WAIT)
            again = await asyncio.wait_for(caller.send_message(InteropQuestion("b"), AgentId("py_oracle", "k1")), WAIT)
            other = await asyncio.wait_for(caller.send_message(InteropQuestion("c"), AgentId("py_oracle", "k2")), WAIT)
            assert first.source == again.source == "py_oracle/k1" and other.source == "py_oracle/k2"
            assert first.text.endswith("call 1)") and again.text.endswith("call 2)")  # same instance
            assert other.text.endswith("call 1)")  # a different instance
            assert Oracle.created == before + 2

            await expect_error(caller.send_message(InteropQuestion("fail"), AgentId("py_oracle", "k1")), "python refuses: fail", within=5)
            # AutoGen's worker answers this with an empty RpcResponse; our host makes it an error.
            await expect_error(
                caller.send_message(InteropQuestion("fail-silently"), AgentId("py_oracle", "k1")),
                "answered with neither a result nor an error",
                within=5,
            )
            # AutoGen's host never answers this; ours does, at once.
            await expect_error(
                caller.send_message(InteropQuestion("?"), AgentId("nobody", "k")), "no worker serves agent type 'nobody'", within=2
            )

    run(scenario())


def test_python_worker_that_disconnects_frees_its_types_and_subscriptions():
    async def scenario():
        async with our_host() as address, python_worker(address) as caller:
            async with AsyncExitStack() as stack:
                await listening_worker(stack, address)
                assert {s.typeSubscription.agent_type or s.typePrefixSubscription.agent_type for s in await subscriptions(address)} >= {
                    "py_listener",
                    "py_oracle",
                }
            # The listening worker has stopped. Until the host has seen its stream close, a call may
            # still reach it and be answered "disconnected before responding"; either way, at once.
            error = await expect_error(caller.send_message(InteropQuestion("?"), AgentId("py_oracle", "k")), within=5)
            assert "no worker serves agent type 'py_oracle'" in error or "disconnected before responding" in error, error
            # Its subscriptions are freed (the host offers no notification, so look, bounded).
            deadline = time.monotonic() + WAIT
            while True:
                remaining = {s.typeSubscription.agent_type or s.typePrefixSubscription.agent_type for s in await subscriptions(address)}
                if not remaining & {"py_listener", "py_oracle"} or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            assert not remaining & {"py_listener", "py_oracle"}, remaining
            await expect_error(
                caller.send_message(InteropQuestion("?"), AgentId("py_oracle", "k")), "no worker serves agent type 'py_oracle'", within=5
            )

    run(scenario())


async def subscriptions(address: str):
    async with grpc.aio.insecure_channel(address) as channel:
        stub = agent_worker_pb2_grpc.AgentRpcStub(channel)
        response = await stub.GetSubscriptions(
            agent_worker_pb2.GetSubscriptionsRequest(), metadata=[("client-id", "inspector")], timeout=WAIT
        )
        return list(response.subscriptions)


# -- Mixed Swift and Python workers, on our host and on AutoGen's -----------------------------------

HOSTS = ["ours", "autogen"]


async def command(runtime, action: str, target_type: str, target_key: str, text: str, timeout_ms: int = 10_000) -> CommandResult:
    return await asyncio.wait_for(
        runtime.send_message(Command(action, target_type, target_key, text, timeout_ms), AgentId("swift_driver", "d")), WAIT
    )


@asynccontextmanager
async def mixed(kind: str):
    """A host of `kind`, the Swift peer, a listening Python worker and a Python caller."""
    async with host(kind) as address, AsyncExitStack() as stack:
        await stack.enter_async_context(swift_peer(address))
        _, received = await listening_worker(stack, address)
        caller = await stack.enter_async_context(python_worker(address))
        yield caller, received, stack, address


@pytest.mark.parametrize("kind", HOSTS)
def test_publish_json_python_to_swift_and_back(kind):
    async def scenario():
        async with mixed(kind) as (caller, received, _, _):
            await caller.publish_message(InteropMessage("hi", 1), TopicId("interop.json", "mix1"))
            assert await next_received(received) == ("py_listener/mix1", "interop.reply/mix1", InteropMessage("swift got hi", 2))

    run(scenario())


@pytest.mark.parametrize("kind", HOSTS)
def test_publish_protobuf_python_to_swift_and_back(kind):
    async def scenario():
        async with mixed(kind) as (_, received, stack, address):
            proto_publisher = await stack.enter_async_context(python_worker(address, protobuf=True))
            await proto_publisher.publish_message(StringValue(value="hey"), TopicId("interop.proto", "mix2"))
            assert await next_received(received) == ("py_listener/mix2", "interop.reply/mix2", StringValue(value="SWIFT GOT hey"))

    run(scenario())


@pytest.mark.parametrize("kind", HOSTS)
def test_publish_swift_to_python_json_and_protobuf(kind):
    async def scenario():
        async with mixed(kind) as (caller, received, _, _):
            assert (await command(caller, "publish_json", "interop.reply", "mix3", "from swift")).ok
            assert await next_received(received) == ("py_listener/mix3", "interop.reply/mix3", InteropMessage("from swift", 1))
            assert (await command(caller, "publish_proto", "interop.reply", "mix4", "proto from swift")).ok
            assert await next_received(received) == ("py_listener/mix4", "interop.reply/mix4", StringValue(value="proto from swift"))

    run(scenario())


@pytest.mark.parametrize("kind", HOSTS)
def test_rpc_python_to_swift_typed_response_and_error_text(kind):
    async def scenario():
        async with mixed(kind) as (caller, _, _, _):
            answer = await asyncio.wait_for(caller.send_message(InteropQuestion("q1"), AgentId("swift_echo", "k")), WAIT)
            assert answer == InteropAnswer(text="swift answers q1", source="swift_echo/k")
            await expect_error(
                caller.send_message(InteropQuestion("fail"), AgentId("swift_echo", "k")), "swift handler failed on purpose: fail", within=5
            )

    run(scenario())


@pytest.mark.parametrize("kind", HOSTS)
def test_rpc_swift_to_python_typed_response_and_error_text(kind):
    async def scenario():
        async with mixed(kind) as (caller, _, _, _):
            result = await command(caller, "ask_json", "py_oracle", "k9", "q2")
            assert result.ok, result
            assert result.text.startswith("python answers q2 (instance") and result.text.endswith("| from py_oracle/k9"), result
            failed = await command(caller, "ask_json", "py_oracle", "k9", "fail")
            assert not failed.ok and failed.text == "[handlerFailed] python refuses: fail", failed
            # An empty RpcResponse: our host turns it into an error, and behind AutoGen's host our worker does.
            silent = await command(caller, "ask_json", "py_oracle", "k9", "fail-silently")
            assert not silent.ok and silent.text.startswith("[handlerFailed]"), silent
            assert "answered with neither a result nor an error" in silent.text, silent

    run(scenario())


@pytest.mark.parametrize("kind", HOSTS)
def test_autogen_worker_defects_become_timely_errors(kind):
    """AutoGen's Python worker sends no reply when a handler returns None, and cannot reply with a
    protobuf payload. The Swift caller still gets an error at its deadline (our host would also
    answer it after --rpc-timeout; AutoGen's host never would)."""

    async def scenario():
        async with mixed(kind) as (caller, _, _, _):
            for action, text in (("ask_silent", "returns None"), ("ask_proto", "x")):
                result = await command(caller, action, "py_oracle", "k", text, timeout_ms=2000)
                assert not result.ok, result
                assert result.text == "[deadlineExceeded] no response from py_oracle/k within 2 s", result
                assert 1900 <= result.elapsed_ms < 3500, result

    run(scenario())


@pytest.mark.parametrize("kind", HOSTS)
def test_swift_rpc_to_unknown_type_is_a_timely_error(kind):
    """Our host answers at once; on AutoGen's host (which never answers) the Swift worker's own
    deadline does."""

    async def scenario():
        async with mixed(kind) as (caller, _, _, _):
            result = await command(caller, "ask_json", "nobody", "k", "?", timeout_ms=2000)
            assert not result.ok
            if kind == "ours":
                assert result.text == "[unknownAgentType] no worker serves agent type 'nobody'" and result.elapsed_ms < 1000, result
            else:
                assert result.text == "[deadlineExceeded] no response from nobody/k within 2 s" and result.elapsed_ms < 3500, result

    run(scenario())


def test_callee_killed_mid_rpc_answers_the_caller_within_a_second():
    """A Swift worker SIGKILLed while it holds RPCs from two Python workers: our host answers every
    pending caller at once."""

    async def scenario():
        async with our_host() as address, python_worker(address) as first, python_worker(address) as second:
            async with swift_peer(address) as peer:
                calls = [
                    asyncio.create_task(caller.send_message(InteropQuestion("hang"), AgentId("swift_echo", f"k{index}")))
                    for index, caller in enumerate([first, second, first, second, first])
                ]
                for _ in calls:
                    assert await asyncio.to_thread(peer.read_line) == "hanging"
                killed_at = time.monotonic()
                peer.killed = True
                peer.proc.kill()
                answered_at: list[float] = []
                for call in calls:
                    with pytest.raises(Exception) as info:
                        await asyncio.wait_for(call, WAIT)
                    answered_at.append(time.monotonic() - killed_at)
                    assert "disconnected before responding" in str(info.value), str(info.value)
                slowest = max(answered_at)
                assert slowest < 1.0, f"a caller waited {slowest:.3f} s"
                print(f"{len(calls)} pending callers answered {min(answered_at) * 1000:.0f}-{slowest * 1000:.0f} ms after SIGKILL")

    run(scenario())


def make_certificates(directory) -> dict[str, bytes]:
    """A CA, a host certificate for localhost, and a client certificate, made with openssl."""
    script = """
      set -e
      openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=ca \
        -keyout ca.key -out ca.pem 2>/dev/null
      for leaf in host client; do
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=$leaf \
          -keyout $leaf.key -out $leaf.csr 2>/dev/null
      done
      printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > host.ext
      printf 'extendedKeyUsage=clientAuth\\n' > client.ext
      for leaf in host client; do
        openssl x509 -req -in $leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
          -extfile $leaf.ext -out $leaf.pem 2>/dev/null
      done
    """
    subprocess.run(["sh", "-c", script], cwd=directory, check=True, timeout=WAIT)
    return {name: (directory / name).read_bytes() for name in ["ca.pem", "host.pem", "host.key", "client.pem", "client.key"]}


def health_check(channel) -> bytes:
    """grpc.health.v1.Health/Check for the whole server, as raw bytes (SERVING is b'\\x08\\x01')."""
    check = channel.unary_unary("/grpc.health.v1.Health/Check", request_serializer=None, response_deserializer=None)
    return check(b"", timeout=WAIT)


def test_grpcio_reaches_the_host_over_tls_and_mutual_tls(tmp_path):
    """gRPC's C core (grpcio) against runtime-host's TLS: the handshake, ALPN and health check work;
    a plaintext client, or a client without a certificate under mutual TLS, is refused."""
    certs = make_certificates(tmp_path)
    trust = grpc.ssl_channel_credentials(root_certificates=certs["ca.pem"])
    with_identity = grpc.ssl_channel_credentials(
        root_certificates=certs["ca.pem"], private_key=certs["client.key"], certificate_chain=certs["client.pem"])

    async def scenario():
        tls = ["--tls-cert", str(tmp_path / "host.pem"), "--tls-key", str(tmp_path / "host.key")]
        async with our_host(*tls) as address:
            target = "localhost:" + address.rsplit(":", 1)[1]
            with grpc.secure_channel(target, trust) as channel:
                assert health_check(channel) == b"\x08\x01"
            with grpc.insecure_channel(target) as channel, pytest.raises(grpc.RpcError) as info:
                health_check(channel)
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE

        async with our_host(*tls, "--tls-client-ca", str(tmp_path / "ca.pem")) as address:
            target = "localhost:" + address.rsplit(":", 1)[1]
            with grpc.secure_channel(target, with_identity) as channel:
                assert health_check(channel) == b"\x08\x01"
            with grpc.secure_channel(target, trust) as channel, pytest.raises(grpc.RpcError) as info:
                health_check(channel)
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE

    run(scenario())


@pytest.mark.parametrize("kind", HOSTS)
def test_swift_worker_reconnects_when_the_host_restarts(kind):
    """The host goes away under a Swift worker and a new one starts on the same address: the worker
    reconnects by itself, registers again, and a Python worker on the new host reaches it."""

    async def scenario():
        address = f"127.0.0.1:{free_port()}"
        first = host(kind, address)
        await first.__aenter__()
        peer_context = swift_peer(address)
        peer = await peer_context.__aenter__()
        try:
            await first.__aexit__(None, None, None)
            async with host(kind, address):
                assert await asyncio.to_thread(peer.read_line) == "reconnected"
                async with python_worker(address) as caller:
                    answer = await asyncio.wait_for(caller.send_message(InteropQuestion("back?"), AgentId("swift_echo", "again")), WAIT)
                    assert answer.text == "swift answers back?", answer
                await peer_context.__aexit__(None, None, None)
        finally:
            if peer.proc.poll() is None:
                peer.stop()

    run(scenario())
