"""Fixtures for the interop tests: our runtime-host, AutoGen's host, and the Swift peer worker.

Every process is started by pid and stopped by that pid; every wait is bounded.
"""

import asyncio
import os
import signal
import socket
import subprocess
import threading
from contextlib import asynccontextmanager

import pytest

WAIT = 20  # seconds: the bound on any single wait in these tests
HOST_RPC_TIMEOUT = 3  # seconds: runtime-host's --rpc-timeout in these tests


def binary(name: str) -> str:
    path = os.environ.get(f"INTEROP_{name.upper().replace('-', '_')}")
    if not path or not os.access(path, os.X_OK):
        pytest.fail(f"set INTEROP_{name.upper().replace('-', '_')} to the {name} binary (scripts/test.sh does)")
    return path


class Process:
    """A child process whose first stdout line is read (bounded) and whose output is kept."""

    def __init__(self, args: list[str], name: str) -> None:
        self.name = name
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.first_line = self._read_first_line()
        self.stderr: list[str] = []
        self._drain = threading.Thread(target=self._drain_stderr, daemon=True)
        self._drain.start()

    def _read_first_line(self) -> str:
        result: list[str] = []
        reader = threading.Thread(target=lambda: result.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(WAIT)
        if not result or not result[0]:
            self.stop()
            raise RuntimeError(f"{self.name} did not start within {WAIT} s: {self.proc.stderr.read()}")
        return result[0].strip()

    def _drain_stderr(self) -> None:
        for line in self.proc.stderr:
            self.stderr.append(line)

    def read_line(self) -> str:
        """The next stdout line (bounded)."""
        result: list[str] = []
        reader = threading.Thread(target=lambda: result.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(WAIT)
        return result[0].strip() if result else ""

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(WAIT)
        finally:
            self._drain.join(WAIT)  # everything it wrote is in self.stderr once stopped


@asynccontextmanager
async def our_host(*extra: str, address: str = "127.0.0.1:0"):
    """runtime-host on `address` (a free loopback port by default); yields HOST:PORT and checks it
    exits 0 on SIGTERM."""
    args = [binary("runtime-host"), "--address", address, "--rpc-timeout", str(HOST_RPC_TIMEOUT), "--log-level", "notice", *extra]
    host = await asyncio.to_thread(Process, args, "runtime-host")
    try:
        yield host.first_line.rsplit(" ", 1)[-1]
    finally:
        status = await asyncio.to_thread(host.stop)
        assert status == 0, f"runtime-host exited with {status}: {''.join(host.stderr)}"


@asynccontextmanager
async def our_host_with_http(*extra: str):
    """runtime-host with its HTTP listener (the gateway); yields (gRPC HOST:PORT, HTTP HOST:PORT)."""
    args = [binary("runtime-host"), "--address", "127.0.0.1:0", "--http-address", "127.0.0.1:0",
            "--rpc-timeout", str(HOST_RPC_TIMEOUT), "--log-level", "notice", *extra]
    host = await asyncio.to_thread(Process, args, "runtime-host")
    try:
        http_line = await asyncio.to_thread(host.read_line)
        assert "://" in http_line, http_line
        yield host.first_line.rsplit(" ", 1)[-1], http_line.split("://", 1)[1].split(" ", 1)[0]
    finally:
        status = await asyncio.to_thread(host.stop)
        assert status == 0, f"runtime-host exited with {status}: {''.join(host.stderr)}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@asynccontextmanager
async def autogen_host(address: str | None = None):
    """AutoGen's own Python host (GrpcWorkerAgentRuntimeHost) in this event loop."""
    from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntimeHost

    address = address or f"127.0.0.1:{free_port()}"
    host = GrpcWorkerAgentRuntimeHost(address=address)
    host.start()
    try:
        yield address
    finally:
        await asyncio.wait_for(host.stop(grace=1), WAIT)


@asynccontextmanager
async def swift_peer(address: str, *extra: str):
    """The Swift interop peer worker connected to `address`, once it has registered its agents."""
    peer = await asyncio.to_thread(Process, [binary("interop-peer"), "--host", address, *extra], "interop-peer")
    assert peer.first_line == "ready", peer.first_line
    try:
        yield peer
    finally:
        status = await asyncio.to_thread(peer.stop)
        killed = status == -signal.SIGKILL and getattr(peer, "killed", False)
        assert status == 0 or killed, f"interop-peer exited with {status}: {''.join(peer.stderr)}"


def host(kind: str, address: str | None = None):
    """`ours` (runtime-host) or `autogen` (GrpcWorkerAgentRuntimeHost), on `address` if given."""
    if kind == "ours":
        return our_host(address=address) if address else our_host()
    return autogen_host(address)
