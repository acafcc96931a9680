"""A stand-in OTLP collector for the traced runs: it accepts every export and keeps only counts.

Spans are sent the way a deployment sends them (OTLP over HTTP, in batches, from the server's export
thread), to this process, so that what the server's CPU time counts is Inkwell's side of tracing:
making the spans, encoding them and posting them. A real collector's own work would happen elsewhere.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    exports: int = 0
    bytes: int = 0


class _Handler(BaseHTTPRequestHandler):
    received: Received
    lock: threading.Lock

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.lock:
            self.received.exports += 1
            self.received.bytes += len(body)
        # An empty ExportTraceServiceResponse: everything was accepted.
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per export would drown the benchmark's output


@contextmanager
def otlp_sink() -> Iterator[tuple[str, Received]]:
    """An OTLP/HTTP endpoint on a free local port until the block ends: its URL and what it received."""
    received = Received()
    handler = type("Handler", (_Handler,), {"received": received, "lock": threading.Lock()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="otlp-sink", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
