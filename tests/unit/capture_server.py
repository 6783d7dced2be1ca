"""A loopback HTTP server that records every connection and request it receives.

The egress tests point the server's outbound requests at it and assert that it was never
reached: not one connection, so not one header (an API key) or byte left the process.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: what it answers: a chat completion, so that a model backend pointed at it succeeds
REPLY = json.dumps(
    {"choices": [{"message": {"role": "assistant", "content": "captured"}}], "usage": {}}
).encode()


@dataclass
class Capture:
    port: int
    redirect_to: str | None = None
    #: answer without Content-Length (the body ends when the connection closes)
    undeclared_length: bool = False
    connections: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def reached(self) -> bool:
        return self.connections > 0 or bool(self.requests)


def _handler(capture: Capture) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = dict(self.headers.items())
            capture.requests.append({"path": self.path, "headers": headers, "body": body})
            if capture.redirect_to is not None:
                self.send_response(302)
                self.send_header("Location", capture.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if not capture.undeclared_length:
                self.send_header("Content-Length", str(len(REPLY)))
            self.end_headers()
            self.wfile.write(REPLY)

        do_GET = _answer
        do_POST = _answer

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    capture: Capture

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.capture.connections += 1
        return True


@contextmanager
def capture_server(
    redirect_to: str | None = None,
    tls: ssl.SSLContext | None = None,
    undeclared_length: bool = False,
) -> Iterator[Capture]:
    """A server on 127.0.0.1 (a random port) until the block ends; ``redirect_to``: it
    answers every request with a 302 to that URL; ``tls``: it speaks HTTPS;
    ``undeclared_length``: its answers carry no Content-Length."""
    capture = Capture(0, redirect_to, undeclared_length)
    httpd = _Server(("127.0.0.1", 0), _handler(capture))
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    capture.port = httpd.server_address[1]
    httpd.capture = capture
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield capture
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
