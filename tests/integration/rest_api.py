"""A small REST API on a free loopback port, for the ``http`` tool's integration tests.

Each path answers in one way the tool must handle: JSON, text, 404, rate limiting, server
errors, a body too large, a slow answer, invalid JSON, an echo of the request (headers
included), a redirect to another origin, and an OpenAPI document describing itself.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

#: bytes of the ``/big`` answers
BIG_BYTES = 50_000
#: seconds ``/slow`` takes to answer
SLOW_SECONDS = 3.0


@dataclass
class RestApi:
    port: int
    #: (method, path with query) of every request, in order
    requests: list[tuple[str, str]] = field(default_factory=list)
    #: the Authorization header of each request that had one
    authorizations: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def count(self, method: str, path: str) -> int:
        with self.lock:
            return sum(1 for m, p in self.requests if m == method and urlsplit(p).path == path)


def openapi_document() -> dict[str, Any]:
    """This API's OpenAPI document; its server URL is relative to where it is read."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "test API", "version": "1"},
        "servers": [{"url": "/"}],
        "paths": {
            "/echo/{name}": {
                "get": {
                    "operationId": "echoName",
                    "summary": "Echo the request back.",
                    "parameters": [
                        {
                            "name": "name",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                        {"name": "loud", "in": "query", "schema": {"type": "boolean"}},
                    ],
                }
            }
        },
    }


def _handler(api: RestApi) -> type[BaseHTTPRequestHandler]:  # noqa: C901 (one route each)
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def _send(
            self,
            status: int,
            body: bytes | str | Any,
            content_type: str = "application/json",
            headers: dict[str, str] | None = None,
            declare_length: bool = True,
        ) -> None:
            if isinstance(body, str):
                data = body.encode()
            elif isinstance(body, bytes):
                data = body
            else:
                data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if declare_length:
                self.send_header("Content-Length", str(len(data)))
            else:
                self.close_connection = True
            self.end_headers()
            self.wfile.write(data)

        def _route(self) -> None:  # noqa: C901 (one branch per route)
            with api.lock:
                api.requests.append((self.command, self.path))
                if "Authorization" in self.headers:
                    api.authorizations.append(self.headers["Authorization"])
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = urlsplit(self.path).path
            seen = api.count(self.command, path)
            if path == "/json":
                self._send(200, {"ok": True, "query": parse_qs(urlsplit(self.path).query)})
            elif path == "/text":
                self._send(200, "plain words", "text/plain; charset=utf-8")
            elif path == "/bad-json":
                self._send(200, '{"ok": tru', "application/json")
            elif path == "/missing":
                self._send(404, {"error": "no such thing here"})
            elif path in ("/rate-limited", "/orders-rate-limited") and seen == 1:
                self._send(429, "slow down", "text/plain", {"Retry-After": "7"})
            elif path in ("/rate-limited", "/orders-rate-limited"):
                self._send(201 if self.command == "POST" else 200, {"ok": True, "attempt": seen})
            elif path == "/rate-limited-long":
                self._send(429, "come back tomorrow", "text/plain", {"Retry-After": "86400"})
            elif path in ("/broken", "/orders"):
                self._send(500, "internal trouble", "text/plain")
            elif path == "/big":
                self._send(200, "x" * BIG_BYTES, "text/plain")
            elif path == "/big-stream":
                self._send(200, "x" * BIG_BYTES, "text/plain", declare_length=False)
            elif path == "/slow":
                time.sleep(SLOW_SECONDS)
                self._send(200, {"late": True})
            elif path == "/echo-text":
                self._send(200, str(dict(self.headers.items())), "text/plain")
            elif path.startswith("/echo"):
                headers = {k.lower(): v for k, v in self.headers.items()}
                echo = {"path": self.path, "headers": headers, "body": body.decode() or None}
                self._send(200, echo)
            elif path == "/redirect":
                self._send(302, "", "text/plain", {"Location": f"http://localhost:{api.port}/echo"})
            elif path == "/openapi.json":
                self._send(200, openapi_document())
            else:
                self._send(404, {"error": f"no route {path}"})

        do_GET = _route
        do_POST = _route

    return Handler


@contextmanager
def rest_api() -> Iterator[RestApi]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(RestApi(port=0)))
    server.daemon_threads = True
    api = RestApi(port=server.server_address[1])
    server.RequestHandlerClass = _handler(api)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
