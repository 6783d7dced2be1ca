"""A real ``smolit serve`` process over HTTPS: /health verified against its certificate,
and a request without a token refused from its headers, before its body is sent."""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.certificates import self_signed
from tests.integration.server import TWO_AGENTS, RunningServer, start_server

CONFIG = """
models:
  default_model: fake
  definitions:
    fake: {backend: fake}
server:
  tls_cert: server.pem
  tls_key: server.key
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    home = tmp_path_factory.mktemp("home")
    cert, _key = self_signed(home)
    running = start_server(home, CONFIG + TWO_AGENTS, ca_file=cert)
    yield running
    running.stop()


def test_health_answers_over_verified_https(server: RunningServer) -> None:
    assert server.url.startswith("https://")
    response = httpx.get(f"{server.url}/health", verify=server.verify, timeout=30)
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_a_plain_http_client_gets_no_answer(server: RunningServer) -> None:
    with pytest.raises(httpx.HTTPError):
        httpx.get(server.url.replace("https://", "http://") + "/health", timeout=10)


def test_an_upload_without_a_token_is_refused_before_its_body(server: RunningServer) -> None:
    parts = urlsplit(server.url)
    assert isinstance(server.verify, ssl.SSLContext) and parts.port is not None
    head = (
        "POST /knowledge/cooking/documents HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{parts.port}\r\n"
        "Content-Type: application/octet-stream\r\n"
        "Content-Length: 50000000\r\n\r\n"
    )
    with (
        socket.create_connection(("127.0.0.1", parts.port), timeout=30) as raw,
        server.verify.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(head.encode())  # and not a byte of the body
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = tls.recv(65536)
            if not chunk:
                break
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"401", answer
    body = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert body["error"]["type"] == "unauthorized"
