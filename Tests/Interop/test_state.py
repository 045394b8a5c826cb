"""Durable agent state with real processes: a stateful Swift agent (swift_ledger in the Swift
peer) keeps its state in runtime-host's store, across a worker killed with SIGKILL mid-stream and
across a host restart on the same SQLite file (or PostgreSQL database).

The guarantee under test: each message is delivered at most once; a handler's state is saved
before its answer leaves the worker; a caller that got no answer retries with the same
idempotency key, which the agent records in its state. So after N keys, whatever was killed, the
count is exactly N: none lost, none applied twice.
"""

import asyncio
import http.client
import json
import os
import tempfile
import time
from contextlib import AsyncExitStack

import pytest
from conftest import WAIT, our_host_with_http, swift_peer


def call(http_address: str, type_name: str, body: dict) -> tuple[int, dict]:
    """POST /v1/agents/swift_ledger/k1?type=TYPE; the status and the JSON body."""
    host, port = http_address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=WAIT)
    try:
        connection.request("POST", f"/v1/agents/swift_ledger/k1?type={type_name}&timeout=5", body=json.dumps(body),
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def add_until_answered(http_address: str, key: str, failures: list) -> dict:
    """Adds `key`, retrying (same key) until an answer comes, for at most WAIT seconds."""
    deadline = time.monotonic() + WAIT
    while True:
        status, body = call(http_address, "LedgerAdd", {"id": key, "work_ms": 5})
        if status == 200:
            return body
        failures.append((key, status, body.get("code")))
        assert time.monotonic() < deadline, f"no answer for {key} within {WAIT} s: {failures[-5:]}"
        time.sleep(0.05)  # the host notices the dead worker's stream at once; this only paces retries


def test_a_stateful_agent_continues_from_its_saved_state_after_its_worker_is_killed():
    """Two Swift workers serve swift_ledger; 60 keys go to one instance, one after another, and the
    worker holding it is SIGKILLed after the 20th answer. The host places the instance on the other
    worker, which loads its state: the count ends at exactly 60."""

    async def scenario():
        async with our_host_with_http() as (address, http_address), AsyncExitStack() as stack:
            peers = {name: await stack.enter_async_context(swift_peer(address, "--name", name)) for name in ("A", "B")}
            answers, failures = [], []

            def send_all():
                for n in range(60):
                    answers.append(add_until_answered(http_address, f"m{n}", failures))

            sender = asyncio.create_task(asyncio.to_thread(send_all))
            deadline = time.monotonic() + WAIT
            while len(answers) < 20:  # the caller's thread appends as answers come
                assert time.monotonic() < deadline and not sender.done(), "20 answers did not come"
                await asyncio.sleep(0.001)
            holder = peers[answers[0]["worker"]]
            holder.killed = True
            holder.proc.kill()  # SIGKILL while the next calls are on their way: no goodbye
            killed_after = len(answers)
            await asyncio.wait_for(sender, WAIT * 3)
            first, last = answers[0]["worker"], answers[-1]["worker"]
            assert first != last, f"the instance did not move: {first} answered before and after the kill"
            status, total = await asyncio.to_thread(call, http_address, "LedgerQuery", {})
            assert status == 200, total
            assert total["count"] == 60 and total["ids"] == 60, total
            duplicates = [a for a in answers if not a["applied"]]
            assert len(duplicates) <= 1, duplicates  # only the call in flight at the kill can be retried after saving
            print(f"count 60 after SIGKILL of worker {first} after {killed_after} answers; worker {last} continued; "
                  f"{len(failures)} failed attempts retried, {len(duplicates)} retried key already counted")

    asyncio.run(scenario())


def stores() -> list[str]:
    kinds = ["sqlite"]
    if os.environ.get("AGENTS_TEST_POSTGRES_URL") or os.environ.get("AGENTS_REQUIRE_POSTGRES") == "1":
        kinds.append("postgres")
    return kinds


@pytest.mark.parametrize("kind", stores())
def test_instances_come_back_with_their_state_after_a_host_restart(kind: str):
    """runtime-host with --state-store sqlite:PATH (or postgres://…): 5 keys are counted, host and
    worker stop; a new host on the same store and a new worker carry on from 5."""

    async def scenario(setting: str):
        for round, keys in enumerate([range(0, 5), range(5, 7)]):
            async with our_host_with_http("--state-store", setting) as (address, http_address), \
                    swift_peer(address, "--name", f"run{round}"):
                for n in keys:
                    answer = await asyncio.to_thread(add_until_answered, http_address, f"k{n}", [])
                    assert answer == {"count": n + 1, "applied": True, "ids": n + 1, "worker": f"run{round}"}, answer
        print(f"{kind}: the count went on from 5 to 7 across a host restart")

    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            asyncio.run(scenario(f"sqlite:{directory}/state.sqlite"))
    else:
        url = os.environ["AGENTS_TEST_POSTGRES_URL"]
        # A fresh database, so that earlier runs' state does not count.
        name = f"restart_{os.getpid()}_{int(time.time())}"
        admin = url.rsplit("/", 1)[0] + "/postgres"
        import subprocess
        subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {name}"], check=True, timeout=WAIT)
        asyncio.run(scenario(url.rsplit("/", 1)[0] + "/" + name))
