"""Fixtures shared by every test directory."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from smolit.model_guard import model_loading
from smolit.redact import process_secrets
from smolit.storage import Database

POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(autouse=True)
def _own_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``SMOLIT_*`` variable of the developer's shell reaches a test (nor the servers
    it starts), and each test has its own ``SMOLIT_HOME``."""
    for name in [name for name in os.environ if name.upper().startswith("SMOLIT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SMOLIT_HOME", str(tmp_path / "smolit-home"))


@pytest.fixture
def real_models() -> Iterator[None]:
    """Opt in to loading real model weights where a suite switched it off (tests/unit);
    a test using this fixture is marked ``slow``."""
    with model_loading(True):
        yield


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "real_models" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _forget_registered_secrets() -> Iterator[None]:
    """Secret values one test registers for masking are not masked in the next."""
    yield
    process_secrets.clear()


@contextmanager
def private_postgres_database() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped afterwards; the test is
    skipped when no server is reachable."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"smolit_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.skip(f"no PostgreSQL server at 127.0.0.1:5432 ({exc.__class__.__name__})")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A private, empty PostgreSQL database for this test session; skipped if unreachable."""
    with private_postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each storage test runs on SQLite and on PostgreSQL (its schema reset per test)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'smolit.db'}"
        return
    url: str = request.getfixturevalue("postgres_server")
    yield url
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """A migrated ``Database`` on each storage (see ``database_url``)."""
    db = Database(database_url)
    db.migrate()
    yield db
    db.dispose()


@dataclass
class RedisServer:
    url: str
    process: subprocess.Popen[bytes]

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


def start_redis(directory: Path) -> RedisServer:
    """A private ``redis-server`` on a free loopback port, nothing saved to disk."""
    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "no", "--dir", str(directory), "--logfile", str(directory / "redis.log")],
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_timeout=1)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"redis-server exited with {process.returncode}")
        try:
            if client.ping():
                client.close()
                return RedisServer(url, process)
        except redis.ConnectionError:
            time.sleep(0.05)
    process.kill()
    pytest.fail("redis-server did not start in 15 s")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = start_redis(tmp_path)
    yield server
    server.kill()


@pytest.fixture
def fresh_postgres_url(postgres_server: str) -> Iterator[str]:
    """An empty PostgreSQL database of its own (for tests that run servers on it)."""
    with private_postgres_database() as url:
        yield url
