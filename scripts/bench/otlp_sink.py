"""An OTLP/HTTP trace receiver for benchmarks: accepts every export (protobuf or JSON), keeps
nothing but counts, so that what it costs stays out of the measured processes. Prints its port on
the first line, and the requests and bytes received when it gets SIGTERM. Loopback only.

    python otlp_sink.py
"""

import http.server
import signal
import sys
import threading

requests = 0
received = 0


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        global requests, received
        length = int(self.headers.get("Content-Length", 0))
        self.rfile.read(length)
        requests += 1
        received += length
        body = b"{}" if "json" in self.headers.get("Content-Type", "") else b""
        self.send_response(200)
        self.send_header("Content-Type", self.headers.get("Content-Type", "application/x-protobuf"))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)


def stop(*_) -> None:
    threading.Thread(target=server.shutdown, daemon=True).start()


signal.signal(signal.SIGTERM, stop)
server.serve_forever()
print(f"otlp sink: {requests} exports, {received} bytes", file=sys.stderr, flush=True)
