"""Hostile input where the transport matters: raw bytes to a real `smolit serve`.

tests/unit/test_hostile_input.py covers every route in process; here the HTTP parser of
the real server is in the path: line breaks and control bytes in headers, which an
in-process client refuses to send.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.integration.server import RunningServer, start_server

CONFIG = """
models:
  default_model: fake
  definitions:
    fake: {backend: fake}
agents:
  - name: travel
    description: Travel planning, flights, packing and passports.
    examples:
      - What should I pack for a week in Rome?
      - Do I need a visa for Japan?
"""
SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("home"), CONFIG)
    yield running
    running.stop()


def raw_request(server: RunningServer, head: bytes) -> tuple[int, list[tuple[str, str]]]:
    """Send ``head`` (request line and headers) as bytes; the status and response headers."""
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head + b"Connection: close\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    lines = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = [(k.strip().lower(), v.strip()) for k, v in (h.split(":", 1) for h in lines[1:])]
    return status, headers


@pytest.mark.parametrize(
    "value",
    [
        b"ok\rX-Injected: yes",
        b"ok\r\n X-Injected: yes",
        b"ok\nX-Injected: yes",
        b"ok\x00",
        b"\xff\xfe",
        b"x" * 10_000,
    ],
    ids=["bare-cr", "folded", "bare-lf", "nul", "non-ascii", "long"],
)
def test_request_id_header_injection_is_never_echoed(server: RunningServer, value: bytes) -> None:
    token = server.admin_token.encode()
    status, headers = raw_request(
        server,
        b"GET /tasks/nope HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + b"\r\n"
        b"X-Request-ID: " + value + b"\r\n",
    )
    assert status < 500
    assert "x-injected" not in [name for name, _ in headers]
    echoed = [v for name, v in headers if name == "x-request-id"]
    assert all(SAFE_ID.fullmatch(v) for v in echoed), echoed


def test_encoded_nul_and_traversal_in_a_path_are_4xx(server: RunningServer) -> None:
    with server.client() as client:
        for path in ("/tasks/%00", "/knowledge/..%2f..%2fetc%2fpasswd", "/agents/%2e%2e%2fx"):
            response = client.get(path)
            assert 400 <= response.status_code < 500, (path, response.text)
            assert set(response.json()["error"]) == {"type", "message", "details"}
