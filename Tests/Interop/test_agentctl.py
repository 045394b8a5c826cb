"""agentctl end to end against a real runtime-host process, with the Swift peer and a Python agent
that streams: every verb, its output format, and exit status 1 with the error on stderr for each
failure (unknown type, handler error, bad input, missing or wrong token, no host)."""

import asyncio
import json
import subprocess
from contextlib import AsyncExitStack

from conftest import WAIT, binary, free_port, our_host_with_http, swift_peer
from test_interop import run
from test_streaming import streaming_worker


def agentctl(address: str, *args: str, token: str | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin"}
    if token is not None:
        env["RUNTIME_HOST_AUTH_TOKEN"] = token
    return subprocess.run(
        [binary("agentctl"), *args, "--server", address], capture_output=True, text=True, timeout=WAIT, env=env, input=stdin
    )


def lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stdout.splitlines() if line]


def test_agentctl_verbs_and_failures():
    async def scenario():
        async with our_host_with_http() as (address, _), AsyncExitStack() as stack:
            await stack.enter_async_context(swift_peer(address))
            await streaming_worker(stack, address)

            listed = await asyncio.to_thread(agentctl, address, "agents")
            assert listed.returncode == 0, listed.stderr
            types = {line.split("\t")[0] for line in lines(listed)}
            assert {"swift_echo", "swift_driver", "py_streamer"} <= types, listed.stdout

            called = await asyncio.to_thread(agentctl, address, "call", "swift_echo/k1", '{"text":"hi"}', "--type", "InteropQuestion")
            assert called.returncode == 0, called.stderr
            assert json.loads(called.stdout) == {"text": "swift answers hi", "source": "swift_echo/k1"}

            from_stdin = await asyncio.to_thread(
                agentctl, address, "call", "swift_echo/k1", "-", "--type", "InteropQuestion", stdin='{"text":"piped"}'
            )
            assert json.loads(from_stdin.stdout)["text"] == "swift answers piped", from_stdin.stderr

            streamed = await asyncio.to_thread(
                agentctl, address, "call", "py_streamer/s", '{"text":"3"}', "--type", "InteropQuestion", "--stream"
            )
            assert streamed.returncode == 0, streamed.stderr
            assert [json.loads(line) for line in lines(streamed)] == [
                {"text": "chunk 1"}, {"text": "chunk 2"}, {"text": "chunk 3"},
                {"text": "streamed 3", "source": "py_streamer/s"},
            ]

            published = await asyncio.to_thread(
                agentctl, address, "publish", "ctl.news/src", '{"text":"n","count":1}', "--type", "InteropMessage", "--count", "3"
            )
            assert published.returncode == 0, published.stderr
            assert len(set(lines(published))) == 3  # three distinct event ids
            replayed = await asyncio.to_thread(agentctl, address, "subscribe", "ctl.", "--prefix", "--after", "0", "--count", "3")
            assert replayed.returncode == 0, replayed.stderr
            events = [json.loads(line) for line in lines(replayed)]
            assert [event["topic"] for event in events] == [{"type": "ctl.news", "source": "src"}] * 3
            assert all(event["type"] == "InteropMessage" and event["data"] == {"text": "n", "count": 1} for event in events)
            assert [event["sequence"] for event in events] == sorted(event["sequence"] for event in events)

            for args, fragment in [
                (("call", "nobody/k", "{}", "--type", "InteropQuestion"), "[notFound] no worker serves agent type 'nobody'"),
                (("call", "swift_echo/k", '{"text":"fail"}', "--type", "InteropQuestion"), "swift handler failed on purpose: fail"),
                (("call", "swift_echo/k", '{"text":', "--type", "InteropQuestion"), "[invalidArgument]"),
                (("call", "bad type/k", "{}", "--type", "InteropQuestion"), "invalid agent type"),
                (("publish", "bad topic", "{}", "--type", "X"), "invalid topic type"),
            ]:
                failed = await asyncio.to_thread(agentctl, address, *args)
                assert failed.returncode == 1, (args, failed.stdout, failed.stderr)
                assert fragment in failed.stderr, (args, failed.stderr)
                assert failed.stderr.startswith("agentctl: error:"), failed.stderr

    run(scenario())


def test_agentctl_token_and_unreachable_host():
    async def scenario():
        async with our_host_with_http("--auth-token", "ctl-secret") as (address, _):
            missing = await asyncio.to_thread(agentctl, address, "agents")
            assert missing.returncode == 1 and "[unauthenticated]" in missing.stderr, missing.stderr
            wrong = await asyncio.to_thread(agentctl, address, "agents", "--token", "nope")
            assert wrong.returncode == 1 and "[unauthenticated]" in wrong.stderr, wrong.stderr
            from_env = await asyncio.to_thread(agentctl, address, "agents", token="ctl-secret")
            assert from_env.returncode == 0, from_env.stderr
        unreachable = await asyncio.to_thread(agentctl, f"127.0.0.1:{free_port()}", "agents")
        assert unreachable.returncode == 1 and unreachable.stderr.startswith("agentctl: error:"), unreachable.stderr

    run(scenario())
