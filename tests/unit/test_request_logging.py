"""Request ids (header in, header out, into the task's run) and the log formats."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from smolit.api import create_app
from smolit.logs import (
    JsonFormatter,
    RequestIdFilter,
    accept_request_id,
    configure_logging,
    request_id_var,
)
from tests.unit.helpers import small_system

Api = tuple[TestClient, dict[str, str]]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    system = small_system(tmp_path)
    with TestClient(create_app(system)) as client:
        admin = system.tokens.create("root", "admin").secret
        yield client, {"Authorization": f"Bearer {admin}"}


def test_a_request_id_sent_is_sent_back(api: Api) -> None:
    client, _ = api
    assert client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == (
        "abc-123"
    )


def test_a_request_without_an_id_gets_one(api: Api) -> None:
    client, _ = api
    assert len(client.get("/health").headers["X-Request-ID"]) == 32


def test_an_unusable_request_id_is_replaced(api: Api) -> None:
    client, _ = api
    sent = "x" * 65
    assert client.get("/health", headers={"X-Request-ID": sent}).headers["X-Request-ID"] != sent


@pytest.mark.parametrize("sent", ["abc\n", "abc\r\nX-Injected: yes", "abc\r"])
def test_a_request_id_with_a_line_break_is_replaced(sent: str) -> None:
    assert accept_request_id(sent) != sent and "\n" not in accept_request_id(sent)


def test_an_error_response_carries_the_request_id(api: Api) -> None:
    client, _ = api
    response = client.get("/tasks/nope", headers={"X-Request-ID": "req-404"})
    assert response.status_code == 401 and response.headers["X-Request-ID"] == "req-404"


def test_the_request_id_follows_the_task_into_its_run(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    client, auth = api
    caplog.handler.addFilter(RequestIdFilter())
    caplog.set_level(logging.INFO, logger="smolit.tasks.runner")
    headers = {**auth, "X-Request-ID": "req-egg-1"}
    task = client.post("/tasks", json={"text": "boil an egg"}, headers=headers).json()
    done = client.get(f"/tasks/{task['id']}?wait=30", headers=auth).json()
    assert done["status"] == "succeeded" and done["request_id"] == "req-egg-1"
    finished = [r for r in caplog.records if r.getMessage().startswith(f"task {task['id']}")]
    assert [getattr(r, "request_id", None) for r in finished] == ["req-egg-1"]


def test_a_generated_request_id_is_stored_with_the_task(api: Api) -> None:
    client, auth = api
    response = client.post("/tasks", json={"text": "boil an egg"}, headers=auth)
    assert response.json()["request_id"] == response.headers["X-Request-ID"]


def test_json_lines_carry_level_logger_message_and_request_id() -> None:
    record = logging.LogRecord("smolit.x", logging.WARNING, __file__, 1, "disk %s", ("full",), None)
    token = request_id_var.set("req-7")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id_var.reset(token)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "WARNING" and entry["logger"] == "smolit.x"
    assert entry["message"] == "disk full" and entry["request_id"] == "req-7"


def test_configure_logging_sets_the_level_and_format() -> None:
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    try:
        configure_logging("WARNING", "json")
        assert root.level == logging.WARNING
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
    finally:
        root.handlers[:] = saved[1]
        root.setLevel(saved[0])


def test_log_format_must_be_text_or_json(tmp_path: Path) -> None:
    from smolit.config import Settings

    with pytest.raises(ValueError, match="log_format"):
        Settings(system={"log_format": "xml"})
