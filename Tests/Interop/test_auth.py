"""Identities with AutoGen's own Python worker: it authenticates with a token from --auth-file, or
with a JWT (HS256), through the interceptor in Examples/CrossLanguage/agents_auth.py; the host
allows it what its identity allows; SIGHUP and file changes reload the file, and a revoked token's
channel is closed within a second."""

import asyncio
import base64
import contextlib
import hashlib
import hmac
import http.client
import json
import os
import signal
import sys
import time
from contextlib import asynccontextmanager

import grpc
import pytest
from autogen_core import MessageContext, RoutedAgent, message_handler, try_get_known_serializers_for_type
from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntime
from conftest import HOST_RPC_TIMEOUT, WAIT, Process, binary

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "Examples", "CrossLanguage"))
from agents_auth import start_with_token  # noqa: E402
from python_worker import Answer, Question  # noqa: E402  (the example's messages)

SECRET = "an-hs256-secret-of-at-least-32-bytes-for-tests"


class PyEcho(RoutedAgent):
    def __init__(self) -> None:
        super().__init__("answers questions")

    @message_handler
    async def on_question(self, message: Question, ctx: MessageContext) -> Answer:
        return Answer(f"{self.id.type} heard: {message.text}", 1.0)


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hs256_jwt(claims: dict) -> str:
    """A JWT signed with SECRET, with the standard library only."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + b64(json.dumps(claims).encode())
    signature = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(signature)


def credentials(with_py_worker: bool = True) -> str:
    identities = [{"name": "web-app", "token_sha256": sha256("caller-token"), "call": ["py_*"]}]
    if with_py_worker:
        identities.append({"name": "py-worker", "token_sha256": sha256("py-token"), "serve": ["py_echo"], "publish": ["py.*"]})
    return json.dumps({"identities": identities, "jwt": {"audience": "agents-bus", "keys": [{"algorithm": "HS256", "file": "secret"}]}})


@asynccontextmanager
async def host_with_auth_file(path):
    """runtime-host with --auth-file and its HTTP listener; yields (process, gRPC address, HTTP address)."""
    args = [binary("runtime-host"), "--address", "127.0.0.1:0", "--http-address", "127.0.0.1:0",
            "--rpc-timeout", str(HOST_RPC_TIMEOUT), "--log-level", "notice", "--auth-file", str(path)]
    host = await asyncio.to_thread(Process, args, "runtime-host")
    try:
        http_line = await asyncio.to_thread(host.read_line)
        yield host, host.first_line.rsplit(" ", 1)[-1], http_line.split("://", 1)[1].split(" ", 1)[0]
    finally:
        status = await asyncio.to_thread(host.stop)
        assert status == 0, f"runtime-host exited with {status}: {''.join(host.stderr)}"


def request(address: str, method: str, path: str, body: str | None = None, token: str = "caller-token"):
    host, port = address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=WAIT)
    try:
        connection.request(method, path, body=body, headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


async def python_worker(address: str, token: str, agent_type: str) -> GrpcWorkerAgentRuntime:
    runtime = GrpcWorkerAgentRuntime(host_address=address)
    runtime.add_message_serializer([s for t in (Question, Answer) for s in try_get_known_serializers_for_type(t)])
    await asyncio.wait_for(start_with_token(runtime, token), WAIT)
    await asyncio.wait_for(PyEcho.register(runtime, agent_type, PyEcho), WAIT)
    return runtime


async def stop_quietly(runtime: GrpcWorkerAgentRuntime) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(runtime.stop(), WAIT)


def test_autogen_worker_with_a_token_and_a_jwt(tmp_path):
    (tmp_path / "secret").write_text(SECRET)
    (tmp_path / "auth.json").write_text(credentials())

    async def scenario():
        async with host_with_auth_file(tmp_path / "auth.json") as (_, address, http_address):
            worker = await python_worker(address, "py-token", "py_echo")
            try:
                status, body = await asyncio.to_thread(
                    request, http_address, "POST", "/v1/agents/py_echo/k?type=Question", '{"text":"hi"}')
                assert status == 200 and json.loads(body)["text"] == "py_echo heard: hi", body
                # Its identity may serve py_echo only: another type is refused with PERMISSION_DENIED.
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await asyncio.wait_for(PyEcho.register(worker, "payments", PyEcho), WAIT)
                assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
                assert "identity 'py-worker' may not serve agent type 'payments'" in refused.value.details()
            finally:
                await stop_quietly(worker)

            # A JWT: its subject and its permissions claim.
            token = hs256_jwt({"sub": "py-jwt", "aud": "agents-bus", "exp": int(time.time()) + 600,
                               "permissions": {"serve": ["py_jwt"]}})
            jwt_worker = await python_worker(address, token, "py_jwt")
            try:
                status, body = await asyncio.to_thread(
                    request, http_address, "POST", "/v1/agents/py_jwt/k?type=Question", '{"text":"jwt"}')
                assert status == 200 and json.loads(body)["text"] == "py_jwt heard: jwt", body
            finally:
                await stop_quietly(jwt_worker)
            expired = hs256_jwt({"sub": "py-jwt", "aud": "agents-bus", "exp": int(time.time()) - 60, "permissions": {}})
            status, body = await asyncio.to_thread(request, http_address, "GET", "/v1/agent-types", token=expired)
            assert status == 401 and "expired at" in body, body

    asyncio.run(scenario())


def test_sighup_and_file_changes_reload_and_revoke_within_a_second(tmp_path):
    (tmp_path / "secret").write_text(SECRET)
    auth = tmp_path / "auth.json"
    auth.write_text(credentials())

    async def scenario():
        async with host_with_auth_file(auth) as (host, address, http_address):
            worker = await python_worker(address, "py-token", "py_echo")
            try:
                # SIGHUP reloads (the same file: nothing is revoked).
                host.proc.send_signal(signal.SIGHUP)
                deadline = time.monotonic() + WAIT
                while not any("credentials reloaded" in line and "signal" in line for line in host.stderr):
                    assert time.monotonic() < deadline, "".join(host.stderr)
                    await asyncio.sleep(0.05)
                status, _ = await asyncio.to_thread(request, http_address, "POST", "/v1/agents/py_echo/k?type=Question", '{"text":"x"}')
                assert status == 200

                # Revoke py-token in the file: its channel closes, so py_echo has no worker, within a second.
                auth.write_text(credentials(with_py_worker=False))
                started = time.monotonic()
                while True:
                    status, body = await asyncio.to_thread(request, http_address, "GET", "/v1/agent-types")
                    assert status == 200, body
                    if "py_echo" not in body:
                        break
                    assert time.monotonic() - started < WAIT, body
                    await asyncio.sleep(0.02)
                elapsed = time.monotonic() - started
                # The watcher checks every 500 ms; the channel closes as soon as it sees the change.
                assert elapsed < 1.0, f"revocation took {elapsed:.2f} s"
                print(f"revoked within {elapsed * 1000:.0f} ms of the file change")
                # The token opens nothing now; the other identity carries on.
                status, body = await asyncio.to_thread(request, http_address, "GET", "/v1/agent-types", token="py-token")
                assert status == 401, body
                assert any("closing a worker's channel" in line and "were revoked" in line for line in host.stderr), "".join(host.stderr)
            finally:
                await stop_quietly(worker)

    asyncio.run(scenario())
