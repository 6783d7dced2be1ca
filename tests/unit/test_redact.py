"""Masking of passwords, tokens and secret values in what the system shows."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from smolit.api import create_app
from smolit.cli.app import app as cli
from smolit.logs import log_handler
from smolit.redact import mask_secrets, redact_text, redact_url, register_secrets
from tests.conftest import free_port
from tests.unit.helpers import small_system

PASSWORD = "hunter2pw"
DATABASE = f"postgresql://smolit:{PASSWORD}@db.internal:5432/smolit?sslmode=require"


@pytest.mark.parametrize(
    "text",
    [
        DATABASE,
        f"redis://:{PASSWORD}@redis:6379/0",
        f"https://example.org/feed?user=a&Password={PASSWORD}&x=1",
        f"GET /x?api_key={PASSWORD}",
        f"host=db passwd={PASSWORD} dbname=x",
        f"Authorization: Bearer {PASSWORD}",
        f"token snn_{PASSWORD}",
    ],
)
def test_passwords_and_tokens_are_masked(text: str) -> None:
    masked = redact_text(text)
    assert PASSWORD not in masked and "***" in masked


def test_the_rest_of_a_url_is_kept() -> None:
    assert redact_url(DATABASE) == (
        "postgresql://smolit:***@db.internal:5432/smolit?sslmode=require"
    )


def test_known_secret_values_are_masked_anywhere() -> None:
    assert redact_text("the key is s3cr3t-value.", known=["s3cr3t-value"]) == "the key is ***."


def emitted(fmt: str, *args: object, message: str = "%s") -> str:
    stream = io.StringIO()
    handler = log_handler(fmt)  # type: ignore[arg-type]
    handler.setStream(stream)
    logger = logging.getLogger("test.redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(message, *args)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    return stream.getvalue()


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_log_records_mask_registered_secret_values(fmt: str) -> None:
    register_secrets(["backup-key-value-123"])
    line = emitted(fmt, "key backup-key-value-123 loaded")
    assert "backup-key-value-123" not in line and "***" in line


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_log_records_mask_passwords_in_query_strings(fmt: str) -> None:
    line = emitted(fmt, "http://h/?password=x", message="fetching %s")
    assert "password=x" not in line and "password=***" in line
    if fmt == "json":
        assert json.loads(line)["message"] == "fetching http://h/?password=***"


def test_log_exceptions_are_masked() -> None:
    stream = io.StringIO()
    handler = log_handler("text")
    handler.setStream(stream)
    logger = logging.getLogger("test.redact.exc")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise ConnectionError(f"cannot reach {DATABASE}")
        except ConnectionError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    assert PASSWORD not in stream.getvalue()


@pytest.mark.parametrize("as_json", [True, False])
def test_config_show_masks_urls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_json: bool
) -> None:
    monkeypatch.setenv("SMOLIT_STORAGE", DATABASE)
    monkeypatch.setenv("SMOLIT_QUEUE", f"redis://:{PASSWORD}@redis:6379/0")
    monkeypatch.setenv("SMOLIT_CACHE__REDIS_URL", f"rediss://:{PASSWORD}@redis:6380/1")
    args = ["config", "show", "--home", str(tmp_path)] + (["--json"] if as_json else [])
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert "postgresql://smolit:***@db.internal:5432/smolit" in result.output


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    redis_url = f"redis://127.0.0.1:{free_port()}/0?password={PASSWORD}"
    system = small_system(tmp_path, cache={"redis_url": redis_url})
    with TestClient(create_app(system)) as test_client:
        token = system.tokens.create("bob").secret
        yield test_client, {"Authorization": f"Bearer {token}"}


def test_cache_stats_mask_the_redis_password(client: tuple[TestClient, dict[str, str]]) -> None:
    test_client, auth = client
    response = test_client.get("/cache", headers=auth)
    assert response.status_code == 200
    assert PASSWORD not in response.text and "password=***" in response.text


def test_workers_mask_urls_in_job_errors(
    client: tuple[TestClient, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    test_client, auth = client
    system = test_client.app.state.system  # type: ignore[attr-defined]
    failed = {
        "name": "backup",
        "interval_seconds": 60.0,
        "runs": 1,
        "owner": None,
        "last_started_at": None,
        "last_finished_at": None,
        "last_status": "failed",
        "last_error": f"cannot open {DATABASE}",
    }
    monkeypatch.setattr(system.scheduler, "status", lambda: [failed])
    response = test_client.get("/workers", headers=auth)
    assert response.status_code == 200
    assert PASSWORD not in response.text


@pytest.mark.parametrize(
    "url", [DATABASE, f"postgresql://smolit@db.internal:5432/smolit?password={PASSWORD}"]
)
def test_the_503_masks_the_database_password_for_an_unknown_token(
    client: tuple[TestClient, dict[str, str]], monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    from sqlalchemy.exc import OperationalError

    test_client, _auth = client
    system = test_client.app.state.system  # type: ignore[attr-defined]

    def unreachable(*_args: object) -> None:
        raise OperationalError(f"connect {url}", {}, ConnectionRefusedError("refused"))

    monkeypatch.setattr(system.tokens, "authenticate", unreachable)
    monkeypatch.setattr(system.settings, "storage", url)
    response = test_client.get("/tasks", headers={"Authorization": "Bearer snn_unknown"})
    assert response.status_code == 503
    assert PASSWORD not in response.text
    assert "db.internal:5432/smolit" in response.json()["error"]["details"]["storage"]


def test_the_system_registers_its_secret_values_for_masking(tmp_path: Path) -> None:
    from smolit.models import ModelManager
    from smolit.system import AgentNN
    from smolit.testing import FakeModel, LookupEncoder
    from tests.unit.helpers import small_settings

    settings = small_settings(tmp_path, secrets={"env": ["PROVIDER_KEY"]})
    models = ModelManager(settings.models)
    models.add_instance("fake", FakeModel())
    system = AgentNN(
        settings, encoder=LookupEncoder(), models=models, environ={"PROVIDER_KEY": "pk-live-9876"}
    )
    try:
        assert redact_text("sent pk-live-9876 upstream") == "sent *** upstream"
    finally:
        system.close()


def test_generic_key_and_token_parameters_are_masked_in_query_strings_only() -> None:
    assert redact_text("GET /x?key=abc123&token=def456") == "GET /x?key=***&token=***"
    assert redact_text("values must be KEY=VALUE") == "values must be KEY=VALUE"


def test_mask_secrets_masks_known_values_and_leaves_patterns_alone() -> None:
    text = "token=abc&page=2 Bearer xyz s3cr3t-value"
    assert mask_secrets(text, ["s3cr3t-value"]) == "token=abc&page=2 Bearer xyz ***"
