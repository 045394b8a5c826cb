"""Host replicas as one cluster over PostgreSQL, as separate processes: three runtime-host nodes
(`--cluster`), AutoGen's Python workers and the Swift peer connected to different nodes.

- Python and Swift workers on different nodes exchange publishes and RPCs.
- A publish reaches each subscribed instance once across nodes (type, prefix and default
  subscriptions); placements are sticky per key cluster-wide and spread over the nodes.
- kill -9 of a node under load: the worker on it fails over and delivers what it buffered once;
  callers waiting on the dead node get an error within 2 s. Figures are printed.
- A stateful agent continues from its stored state on another node after its node dies.
- PostgreSQL stopped while traffic flows: placed instances keep working, new placements fail
  with a clear error, /healthz reports the problem; all is well again once it is back.

Each test uses a schema of its own (one cluster per schema) in AGENTS_TEST_POSTGRES_URL. Every
process is started and stopped by its pid; every wait is bounded by conftest.WAIT.
"""

import asyncio
import http.client
import json
import os
import signal
import subprocess
import time
import uuid
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest
from autogen_core import AgentId, DefaultTopicId, TopicId
from conftest import HOST_RPC_TIMEOUT, WAIT, Process, binary, free_port, swift_peer
from test_state import add_until_answered
from test_interop import InteropMessage, InteropQuestion, command, expect_error, listening_worker, next_received, python_worker, run

PG_URL = os.environ.get("AGENTS_TEST_POSTGRES_URL", "")
pytestmark = pytest.mark.skipif(
    not PG_URL and os.environ.get("AGENTS_REQUIRE_POSTGRES") != "1",
    reason="no PostgreSQL server (AGENTS_TEST_POSTGRES_URL); scripts/test.sh starts one",
)
LEASE = 1.5  # seconds: the nodes' --cluster-lease in these tests


def http_get(address: str, path: str) -> tuple[int, dict]:
    host, port = address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=WAIT)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


class Node:
    """One runtime-host node of the cluster in `schema`, on a port chosen up front (the address
    the other nodes reach it at), with its HTTP gateway."""

    def __init__(self, name: str, schema: str, *extra: str) -> None:
        self.name = name
        self.address = f"127.0.0.1:{free_port()}"
        args = [binary("runtime-host"), "--address", self.address, "--http-address", "127.0.0.1:0",
                "--rpc-timeout", str(HOST_RPC_TIMEOUT), "--log-level", "notice", "--cluster", PG_URL,
                "--cluster-schema", schema, "--node-name", name, "--cluster-lease", str(LEASE), *extra]
        self.process = Process(args, f"node {name}")
        http_line = self.process.read_line()
        assert "://" in http_line, http_line
        self.http = http_line.split("://", 1)[1].split(" ", 1)[0]
        self.killed = False

    def cluster(self) -> dict:
        status, body = http_get(self.http, "/v1/cluster")
        assert status == 200, body
        return body

    def kill(self) -> None:
        """SIGKILL: no goodbye to the workers, the other nodes or the directory."""
        self.killed = True
        self.process.proc.send_signal(signal.SIGKILL)
        self.process.proc.wait(WAIT)

    def stop(self) -> None:
        status = self.process.stop()
        assert self.killed or status == 0, f"node {self.name} exited with {status}: {''.join(self.process.stderr)}"


def eventually(what: str, condition, within: float = WAIT):
    """Polls `condition` (another process's state: nothing to await) until it holds, bounded."""
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {within} s: {what}"
        time.sleep(0.02)


def serving(node: Node, agent_type: str, count: int) -> bool:
    return sum(agent_type in n["agentTypes"] for n in node.cluster()["nodes"]) == count


@asynccontextmanager
async def cluster(*names: str, extra: tuple[str, ...] = ()):
    """Nodes `names` in a fresh schema, each linked to all the others."""
    schema = "interop_" + uuid.uuid4().hex[:12]
    nodes: dict[str, Node] = {}
    try:
        for name in names:
            nodes[name] = await asyncio.to_thread(Node, name, schema, *extra)
        for node in nodes.values():
            await asyncio.to_thread(
                eventually, f"{node.name} linked to every other node",
                lambda node=node: sum(n["linked"] for n in node.cluster()["nodes"]) == len(names) - 1)
        yield nodes
    finally:
        for node in nodes.values():
            await asyncio.to_thread(node.stop)


def test_python_and_swift_workers_on_different_nodes_exchange_publishes_and_rpcs():
    """AutoGen's worker (py_listener, py_oracle) on node a, the Swift peer on node b, an AutoGen
    caller on node c: publishes and RPCs go both ways across nodes."""

    async def scenario():
        async with cluster("a", "b", "c") as nodes, AsyncExitStack() as stack:
            _, received = await listening_worker(stack, nodes["a"].address)
            await stack.enter_async_context(swift_peer(nodes["b"].address))
            caller = await stack.enter_async_context(python_worker(nodes["c"].address))
            for node in nodes.values():
                await asyncio.to_thread(eventually, "types known", lambda node=node: serving(node, "swift_echo", 1) and serving(node, "py_listener", 1))

            # Python (c) publishes; Swift (b) answers with a publish; Python (a) receives it.
            await caller.publish_message(InteropMessage("hi", 1), TopicId("interop.json", "x1"))
            assert await next_received(received) == ("py_listener/x1", "interop.reply/x1", InteropMessage("swift got hi", 2))
            # Python (c) calls Swift (b); Swift (b) calls Python (a).
            answer = await asyncio.wait_for(caller.send_message(InteropQuestion("q1"), AgentId("swift_echo", "k")), WAIT)
            assert answer.text == "swift answers q1" and answer.source == "swift_echo/k"
            result = await command(caller, "ask_json", "py_oracle", "k1", "from swift")
            assert result.ok and result.text.startswith("python answers from swift"), result
            # Errors cross nodes as they are: the handler's own text, and an unknown type at once.
            await expect_error(caller.send_message(InteropQuestion("fail"), AgentId("swift_echo", "k")), "fail", within=5)
            await expect_error(caller.send_message(InteropQuestion("?"), AgentId("nobody", "k")), "nobody", within=2)

    run(scenario())


class SSEReader:
    """A topic stream (`GET /v1/topics/TYPE/events`) on a node's gateway, read line by line."""

    def __init__(self, http_address: str, topic_type: str) -> None:
        host, port = http_address.rsplit(":", 1)
        self.connection = http.client.HTTPConnection(host, int(port), timeout=WAIT)
        self.connection.request("GET", f"/v1/topics/{topic_type}/events")
        self.response = self.connection.getresponse()
        assert self.response.status == 200, self.response.status
        self.next_data("tap open")

    def next_data(self, comment: str | None = None) -> str:
        """The next `data:` line (or, with `comment`, the comment line holding it)."""
        while True:
            line = self.response.fp.readline().decode().rstrip("\n")
            assert line or not self.response.fp.closed, "the stream ended"
            if comment and line.startswith(":") and comment in line:
                return line
            if not comment and line.startswith("data:"):
                return line[len("data:"):].strip()

    def close(self) -> None:
        self.response.close()  # the response holds the socket open: close it first
        self.connection.close()


def test_a_topic_stream_on_one_node_sees_publishes_made_through_another():
    """An SSE reader on node c's gateway sees a publish that an AutoGen worker makes through node
    a, for a listener on a: a node whose gateway has readers gets every publish."""

    async def scenario():
        async with cluster("a", "b", "c") as nodes, AsyncExitStack() as stack:
            _, received = await listening_worker(stack, nodes["a"].address)
            publisher = await stack.enter_async_context(python_worker(nodes["a"].address))
            reader = await asyncio.to_thread(SSEReader, nodes["c"].http, "interop.reply")
            try:
                # Node a learns through the directory that c's gateway has a reader.
                await asyncio.to_thread(eventually, "a knows c is watching",
                                        lambda: any(n["name"] == "c" and n["watching"] for n in nodes["a"].cluster()["nodes"]))
                await publisher.publish_message(InteropMessage("seen on c", 7), TopicId("interop.reply", "s1"))
                data = json.loads(await asyncio.to_thread(reader.next_data))
                assert data["data"] == {"text": "seen on c", "count": 7} and (data["type"], data["source"]) == ("interop.reply", "s1"), data
                assert (await next_received(received))[2] == InteropMessage("seen on c", 7)
            finally:
                reader.close()
            # The reader gone, c is no longer sent every publish.
            await asyncio.to_thread(eventually, "c no longer watching",
                                    lambda: not any(n["name"] == "c" and n["watching"] for n in nodes["a"].cluster()["nodes"]))

    run(scenario())


def test_exactly_once_publish_and_sticky_placement_across_nodes():
    """Two AutoGen workers serve py_listener and py_oracle, on nodes a and c; the publisher is on
    node b. Each publish reaches one instance per source (type, prefix and default subscriptions),
    once; each oracle key keeps its instance across calls from any node; keys spread over both."""

    async def scenario():
        async with cluster("a", "b", "c") as nodes, AsyncExitStack() as stack:
            _, on_a = await listening_worker(stack, nodes["a"].address)
            _, on_c = await listening_worker(stack, nodes["c"].address)
            publisher = await stack.enter_async_context(python_worker(nodes["b"].address))
            for node in nodes.values():
                await asyncio.to_thread(eventually, "both serve", lambda node=node: serving(node, "py_listener", 2))

            sent = []
            for index in range(30):
                topic = [TopicId("interop.reply", f"s{index}"), TopicId("interop.prefixed", f"p{index}"), DefaultTopicId(source=f"d{index}")][index % 3]
                await publisher.publish_message(InteropMessage(f"m{index}", index), topic)
                sent.append(f"m{index}")
            got = []
            deadline = time.monotonic() + WAIT
            while len(got) < len(sent):  # from either worker's queue, as they come
                for queue in (on_a, on_c):
                    while not queue.empty():
                        got.append(queue.get_nowait()[2].text)
                assert time.monotonic() < deadline, f"{len(got)} of {len(sent)} arrived"
                await asyncio.sleep(0.005)
            assert len(got) == len(sent), got
            # A barrier: an RPC through every node; any second copy would have arrived by now.
            for node_name in ("a", "b", "c"):
                async with python_worker(nodes[node_name].address) as probe:
                    await asyncio.wait_for(probe.send_message(InteropQuestion("ready?"), AgentId("py_listener", "probe")), WAIT)
            assert on_a.empty() and on_c.empty(), "a second copy arrived"
            assert sorted(got) == sorted(sent), (sorted(got), sorted(sent))

            # Sticky: each key's calls reach one instance, whichever node the caller is on.
            callers = [await stack.enter_async_context(python_worker(nodes[n].address)) for n in ("a", "b", "c")]
            instances = {}
            for key in range(12):
                answers = [await asyncio.wait_for(c.send_message(InteropQuestion("q"), AgentId("py_oracle", f"k{key}")), WAIT) for c in callers]
                assert [a.text.rsplit("call ", 1)[1] for a in answers] == ["1)", "2)", "3)"], answers
                instances[key] = answers[0].text.split("(instance ")[1].split(",")[0]
            # Spread: each of the two workers' nodes holds some of the keys.
            held = {}
            for name in ("a", "c"):
                status, listing = await asyncio.to_thread(http_get, nodes[name].http, "/v1/agent-types")
                entry = next(t for t in listing["agentTypes"] if t["type"] == "py_oracle")
                assert entry["nodes"] == ["a", "c"], entry
                held[name] = entry["instances"]
            assert held["a"] > 0 and held["c"] > 0 and held["a"] + held["c"] == 12, held
            print(f"30 publishes from node b, each received once; 12 oracle keys called from 3 nodes, each kept one instance; "
                  f"instances held: {held}; {nodes['a'].cluster()['placements']} placements in the directory")

    run(scenario())


def test_kill_9_of_a_node_under_load():
    """The Swift peer (on node b, with c as its fallback) publishes a series to py_listener on node
    a, while an AutoGen caller on a waits on a call the Swift agent never answers. Node b gets
    SIGKILL: the caller gets an error within 2 s, the peer fails over to c, and every publish of
    the series arrives once."""

    async def scenario():
        async with cluster("a", "b", "c") as nodes, AsyncExitStack() as stack:
            _, received = await listening_worker(stack, nodes["a"].address)
            caller = await stack.enter_async_context(python_worker(nodes["a"].address))
            peer = await stack.enter_async_context(
                swift_peer(f"{nodes['b'].address},{nodes['c'].address}", "--publish-series", "300", "--publish-interval-ms", "10"))
            await asyncio.to_thread(eventually, "a knows swift_echo", lambda: serving(nodes["a"], "swift_echo", 1))
            hanging = asyncio.create_task(caller.send_message(InteropQuestion("hang"), AgentId("swift_echo", "held")))
            assert await asyncio.to_thread(peer.read_line) == "hanging"
            # Let part of the series through, then kill b.
            counts = []
            while len(counts) < 50:
                counts.append((await next_received(received))[2].count)
            killed_at = time.monotonic()
            await asyncio.to_thread(nodes["b"].kill)

            with pytest.raises(Exception) as failure:
                await asyncio.wait_for(hanging, WAIT)
            error_after = time.monotonic() - killed_at
            assert error_after < 2, f"the pending caller waited {error_after:.2f} s: {failure.value}"
            # The peer's lines, timed as they come: "reconnected" (to c) and "published 300", in either order.
            lines = {}
            while len(lines) < 2:
                line = await asyncio.to_thread(peer.read_line)
                assert line in ("reconnected", "published 300"), f"{line!r}; so far {lines}: {''.join(peer.stderr)[-2000:]}"
                lines[line] = time.monotonic() - killed_at
            reconnect_after = lines["reconnected"]
            while len(counts) < 300:
                counts.append((await next_received(received))[2].count)
            # A barrier through the peer's new node: a second copy would be here by now.
            result = await command(caller, "ask_json", "py_oracle", "k", "barrier")
            assert result.ok, result
            assert received.empty(), "a publish arrived twice"
            lost = sorted(set(range(1, 301)) - set(counts))
            duplicated = len(counts) - len(set(counts))
            assert not lost and not duplicated, (lost, duplicated)
            # Once b's lease is over, swift_echo's instances are placed again, on c.
            await asyncio.to_thread(eventually, "b gone from a's directory", lambda: all(n["name"] != "b" for n in nodes["a"].cluster()["nodes"]),
                                    within=LEASE * 4)
            answer = await asyncio.wait_for(caller.send_message(InteropQuestion("after"), AgentId("swift_echo", "held")), WAIT)
            assert answer.text == "swift answers after"
            print(f"kill -9 of node b: the pending caller got an error after {error_after * 1000:.0f} ms; the worker reconnected "
                  f"to c after {reconnect_after * 1000:.0f} ms; 300 publishes, {len(lost)} lost, {duplicated} duplicated")

    run(scenario())


def test_a_stateful_agent_continues_from_its_stored_state_after_its_node_dies():
    """swift_ledger/k1 lives on the worker of node b (its state in the cluster's shared PostgreSQL
    store). Node b and its worker get SIGKILL after 10 keys; the worker of node c takes the
    instance over once b's lease is over, loads its state, and the count goes on to exactly 20."""

    async def scenario():
        async with cluster("a", "b", "c", extra=("--state-store", PG_URL)) as nodes, AsyncExitStack() as stack:
            on_b = await stack.enter_async_context(swift_peer(nodes["b"].address, "--name", "on-b"))
            await asyncio.to_thread(eventually, "a knows swift_ledger", lambda: serving(nodes["a"], "swift_ledger", 1))
            run_id = uuid.uuid4().hex[:8]
            failures: list = []
            first = [await asyncio.to_thread(add_until_answered, nodes["a"].http, f"{run_id}-{n}", failures) for n in range(10)]
            assert {a["worker"] for a in first} == {"on-b"}
            base = first[0]["count"] - 1  # the agent's state may hold earlier runs' keys
            assert first[-1]["count"] == base + 10
            await stack.enter_async_context(swift_peer(nodes["c"].address, "--name", "on-c"))
            await asyncio.to_thread(eventually, "c serves swift_ledger too", lambda: serving(nodes["a"], "swift_ledger", 2))
            on_b.killed = True
            on_b.proc.kill()
            await asyncio.to_thread(nodes["b"].kill)
            killed_at = time.monotonic()
            rest = [await asyncio.to_thread(add_until_answered, nodes["a"].http, f"{run_id}-{n}", failures) for n in range(10, 20)]
            moved_after = time.monotonic() - killed_at
            assert {a["worker"] for a in rest} == {"on-c"}
            assert rest[-1]["count"] == base + 20, rest[-1]
            print(f"node b killed after 10 keys: node c's worker answered from its stored state {moved_after * 1000:.0f} ms "
                  f"later (lease {LEASE} s), the count went on to exactly 20; {len(failures)} attempts were retried")

    run(scenario())


def test_postgres_stopped_while_traffic_flows():
    """With the directory's database stopped, calls to placed instances and publishes keep flowing
    across nodes; a call that needs a new placement fails at once with a clear error; /healthz and
    /v1/cluster show the problem. Once the database is back, new placements work again, and no node
    lost its membership or its placements (each renews its lease before any removes another)."""
    directory = os.environ.get("AGENTS_TEST_POSTGRES_DIR")
    if not directory:
        pytest.skip("the PostgreSQL server is not this test run's own (AGENTS_TEST_POSTGRES_DIR): it cannot be stopped")
    script = Path(__file__).resolve().parents[2] / "scripts" / "postgres.sh"

    async def scenario():
        async with cluster("a", "b", "c") as nodes, AsyncExitStack() as stack:
            _, received = await listening_worker(stack, nodes["a"].address)
            await stack.enter_async_context(swift_peer(nodes["b"].address))
            caller = await stack.enter_async_context(python_worker(nodes["c"].address))
            await asyncio.to_thread(eventually, "c knows the types", lambda: serving(nodes["c"], "swift_echo", 1) and serving(nodes["c"], "py_oracle", 1))
            for key in ("k1", "k2"):
                await asyncio.wait_for(caller.send_message(InteropQuestion("before"), AgentId("swift_echo", key)), WAIT)
                await asyncio.wait_for(caller.send_message(InteropQuestion("before"), AgentId("py_oracle", key)), WAIT)
            await caller.publish_message(InteropMessage("before", 1), TopicId("interop.json", "k1"))
            await next_received(received)

            generations = {n["name"]: n["generation"] for n in nodes["a"].cluster()["nodes"]}
            placements = nodes["a"].cluster()["placements"]
            await asyncio.to_thread(subprocess.run, ["bash", str(script), "pause", directory], check=True, timeout=WAIT * 3)
            try:
                await asyncio.to_thread(eventually, "a notices", lambda: nodes["a"].cluster().get("problem"), within=LEASE * 4)
                status, health = await asyncio.to_thread(http_get, nodes["a"].http, "/healthz")
                assert status == 200 and health["status"] == "serving" and health["cluster"]["problem"], health
                for round in range(20):  # placed instances keep working, across nodes, both ways
                    answer = await asyncio.wait_for(caller.send_message(InteropQuestion(f"r{round}"), AgentId("swift_echo", "k1")), WAIT)
                    assert answer.text == f"swift answers r{round}"
                    oracle = await asyncio.wait_for(caller.send_message(InteropQuestion(f"r{round}"), AgentId("py_oracle", "k2")), WAIT)
                    assert oracle.source == "py_oracle/k2"
                await caller.publish_message(InteropMessage("during", 1), TopicId("interop.json", "k1"))
                assert (await next_received(received))[2] == InteropMessage("swift got during", 2)
                error = await expect_error(caller.send_message(InteropQuestion("new"), AgentId("swift_echo", "brand-new")), "cannot place", within=5)
                print(f"while PostgreSQL was down: 40 calls to placed instances answered; a new key: {error[:160]}")
            finally:
                await asyncio.to_thread(subprocess.run, ["bash", str(script), "resume", directory], check=True, timeout=WAIT * 3)
            await asyncio.to_thread(eventually, "a recovers", lambda: not nodes["a"].cluster().get("problem"), within=WAIT)
            answer = await asyncio.wait_for(caller.send_message(InteropQuestion("new"), AgentId("swift_echo", "brand-new")), WAIT)
            assert answer.text == "swift answers new"
            # Every node renewed its lease in time: same generations, placements kept.
            for node in nodes.values():
                await asyncio.to_thread(eventually, f"{node.name} healthy", lambda node=node: not node.cluster().get("problem"))
            after = nodes["a"].cluster()
            assert {n["name"]: n["generation"] for n in after["nodes"]} == generations, (generations, after)
            assert after["placements"] >= placements, (placements, after["placements"])

    run(scenario())
