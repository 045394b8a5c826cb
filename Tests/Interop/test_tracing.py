"""One trace across languages: AutoGen's Python worker, traced with the OpenTelemetry SDK (in-memory
exporter), calls the Swift `swift_driver`, which calls the Python `py_oracle` back. runtime-host and
the Swift worker export their spans with swift-otel over OTLP/HTTP (JSON) to a collector stand-in
this test runs on loopback. The host's `route` span continues the Python caller's trace, the Swift
handler is its child; the Python handler's span links to the host's span of the call back (AutoGen
0.7.5 links rather than parents across processes). The Swift handler's log lines carry its trace
and span ids."""

import asyncio
import base64
import contextlib
import http.server
import json
import threading
import time

from autogen_core import AgentId
from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntime
from conftest import WAIT, our_host, swift_peer
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from test_interop import Command, CommandResult, Oracle, serializers


class Collector:
    """An OTLP/HTTP (JSON) trace receiver on loopback: keeps every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[dict] = []
        self.requests = 0
        collector = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                for resource in body.get("resourceSpans", []):
                    service = next((a["value"].get("stringValue") for a in resource.get("resource", {}).get("attributes", [])
                                    if a["key"] == "service.name"), None)
                    for scope in resource.get("scopeSpans", []):
                        for span in scope.get("spans", []):
                            collector.spans.append({**span, "service": service})
                collector.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, names: set[str]) -> dict[str, dict]:
        deadline = time.monotonic() + WAIT
        while True:
            found = {span["name"]: span for span in self.spans if span["name"] in names}
            if set(found) == names:
                return found
            assert time.monotonic() < deadline, f"the collector got {[s['name'] for s in self.spans]}, not {names}"
            time.sleep(0.05)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def hex_id(value: int, width: int) -> str:
    return format(value, f"0{width}x")


def otlp_id(text: str) -> str:
    """An OTLP/JSON span or trace id as hex: swift-otel writes protobuf JSON's base64 for bytes
    (the OTLP spec asks for hex, which this also accepts)."""
    if len(text) in (16, 32) and all(c in "0123456789abcdefABCDEF" for c in text):
        return text.lower()
    return base64.b64decode(text).hex()


def test_one_trace_across_python_and_swift(monkeypatch):
    collector = Collector()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"http://127.0.0.1:{collector.port}/v1/traces")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    peers = []

    async def scenario():
        async with our_host() as address, swift_peer(address, "--log-level", "info") as peer:
            runtime = GrpcWorkerAgentRuntime(host_address=address, tracer_provider=provider)
            runtime.add_message_serializer(serializers())
            await asyncio.wait_for(runtime.start(), WAIT)
            try:
                await asyncio.wait_for(Oracle.register(runtime, "py_oracle", Oracle), WAIT)
                command = Command(action="ask_json", target_type="py_oracle", target_key="k", text="traced", timeout_ms=5000)
                result = await asyncio.wait_for(runtime.send_message(command, AgentId("swift_driver", "d")), WAIT)
                assert isinstance(result, CommandResult) and result.ok, result
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(runtime.stop(), WAIT)
            peers.append(peer)

    try:
        asyncio.run(scenario())
        swift = collector.wait_for({"route swift_driver", "handle swift_driver", "send py_oracle", "route py_oracle"})
    finally:
        collector.close()
    python = exporter.get_finished_spans()
    python_by_id = {hex_id(span.context.span_id, 16): span for span in python}
    route, handle = swift["route swift_driver"], swift["handle swift_driver"]
    send, route_back = swift["send py_oracle"], swift["route py_oracle"]
    assert (route["service"], handle["service"], send["service"], route_back["service"]) == (
        "runtime-host", "interop-peer", "interop-peer", "runtime-host")
    # The host's span continues the Python caller's span, in its trace; the Swift handler is the
    # host span's child, its call back the handler's, and the host's span of that call its child.
    caller = python_by_id.get(otlp_id(route["parentSpanId"]))
    assert caller is not None, (route, [(s.name, hex_id(s.context.span_id, 16)) for s in python])
    trace = hex_id(caller.context.trace_id, 32)
    assert all(otlp_id(span["traceId"]) == trace for span in swift.values())
    assert otlp_id(handle["parentSpanId"]) == otlp_id(route["spanId"])
    assert otlp_id(send["parentSpanId"]) == otlp_id(handle["spanId"])
    assert otlp_id(route_back["parentSpanId"]) == otlp_id(send["spanId"])
    # The Python handler of that call: AutoGen 0.7.5 starts every handler span as a new trace with a
    # *link* to the caller's span (its TraceHelper.trace_block sets `context = None`, a TODO), so
    # the link, not the parent, points at the host's `route py_oracle`, in the one trace.
    children = [span for span in python if any(
        hex_id(link.context.span_id, 16) == otlp_id(route_back["spanId"]) and hex_id(link.context.trace_id, 32) == trace
        for link in span.links)]
    assert [span.name for span in children] == ["autogen process py_oracle.(k)-A"], [
        (s.name, [(hex_id(l.context.trace_id, 32), hex_id(l.context.span_id, 16)) for l in s.links]) for s in python]
    # Log correlation: the line the Swift handler logged carries its trace and span ids.
    peer_log = peers[0].stderr  # complete: the peer has stopped
    lines = [json.loads(line) for line in peer_log if line.startswith("{")]
    command = [line for line in lines if line.get("message") == "command"]
    assert command, peer_log
    assert (command[0].get("trace_id"), command[0].get("span_id")) == (trace, otlp_id(handle["spanId"])), command[0]
    print("one trace:", caller.name, "->", list(swift), "->", [s.name for s in children])


def test_agentctl_to_a_swift_agent_through_the_gateway_is_one_trace(monkeypatch):
    import subprocess

    from conftest import binary

    collector = Collector()
    for name, value in [("OTEL_TRACES_EXPORTER", "otlp"), ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
                        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"http://127.0.0.1:{collector.port}/v1/traces"),
                        ("OTEL_BSP_SCHEDULE_DELAY", "100")]:
        monkeypatch.setenv(name, value)

    peers = []

    async def scenario():
        async with our_host() as address, swift_peer(address, "--log-level", "info", "--log-format", "text") as peer:
            done = await asyncio.to_thread(
                subprocess.run,
                [binary("agentctl"), "call", "swift_echo/t", '{"text":"traced"}', "--type", "InteropQuestion", "--server", address],
                capture_output=True, text=True, timeout=WAIT)
            assert done.returncode == 0, done.stderr
            assert "swift answers traced" in done.stdout, done.stdout
            peers.append(peer)

    try:
        asyncio.run(scenario())
        spans = collector.wait_for(
            {"agentctl call swift_echo", "agents.gateway.v1.Gateway/Invoke", "route swift_echo", "handle swift_echo"})
    finally:
        collector.close()
    call, invoke = spans["agentctl call swift_echo"], spans["agents.gateway.v1.Gateway/Invoke"]
    route, handle = spans["route swift_echo"], spans["handle swift_echo"]
    # agentctl's span went to the host in the call's metadata: the gateway's span continues it, the
    # host's route span is the gateway's child, and the agent's handler the route's.
    assert len({otlp_id(span["traceId"]) for span in spans.values()}) == 1
    assert otlp_id(invoke["parentSpanId"]) == otlp_id(call["spanId"])
    assert otlp_id(route["parentSpanId"]) == otlp_id(invoke["spanId"])
    assert otlp_id(handle["parentSpanId"]) == otlp_id(route["spanId"])
    assert [span["service"] for span in (call, invoke, route, handle)] == ["agentctl", "runtime-host", "runtime-host", "interop-peer"]
    # Log correlation in the text format: the handler's line carries trace_id and span_id.
    peer_log = peers[0].stderr  # complete: the peer has stopped
    question = [line for line in peer_log if "question" in line and "text=traced" in line]
    assert question, peer_log
    assert f"trace_id={otlp_id(handle['traceId'])}" in question[0] and f"span_id={otlp_id(handle['spanId'])}" in question[0], question[0]
