"""The deployment key: configured as a secret, or generated once and shared through the
database by every process (on SQLite and on PostgreSQL)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from smolit.cache.signing import Signer
from smolit.config import Settings
from smolit.errors import ConfigError
from smolit.security.deployment_key import (
    configured_key,
    deployment_key,
    deployment_key_source,
    stored_key,
)
from smolit.storage import Database
from tests.unit.helpers import small_system

SECRET = "a deployment secret of 32 chars!"


def keyed(name: str | None) -> Settings:
    return Settings(security={"deployment_key_env": name})


def test_the_stored_key_is_generated_once(database: Database) -> None:
    key = stored_key(database)
    assert len(key) == 32 and stored_key(database) == key


def test_processes_starting_at_once_end_with_the_same_key(database_url: str) -> None:
    databases = [Database(database_url) for _ in range(4)]
    databases[0].migrate()
    barrier = threading.Barrier(len(databases))
    keys: list[bytes] = []

    def start(database: Database) -> None:
        barrier.wait()
        keys.append(stored_key(database))

    threads = [threading.Thread(target=start, args=(db,)) for db in databases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for database in databases:
        database.dispose()
    assert len(keys) == 4 and len(set(keys)) == 1


def test_a_configured_secret_needs_no_allowlist_entry() -> None:
    key = configured_key(keyed("SMOLIT_CACHE_KEY"), {"SMOLIT_CACHE_KEY": SECRET})
    assert key is not None and len(key) == 32 and SECRET.encode() not in key


def test_a_configured_secret_wins_over_the_stored_key(database: Database) -> None:
    settings = keyed("SMOLIT_CACHE_KEY")
    key = deployment_key(settings, database, {"SMOLIT_CACHE_KEY": SECRET})
    assert key == configured_key(settings, {"SMOLIT_CACHE_KEY": SECRET})
    assert key != stored_key(database)


def test_an_unset_configured_secret_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"security.deployment_key_env"):
        configured_key(keyed("SMOLIT_CACHE_KEY"), {})


def test_a_short_configured_secret_is_refused() -> None:
    with pytest.raises(ConfigError, match="at least 32 characters"):
        configured_key(keyed("SMOLIT_CACHE_KEY"), {"SMOLIT_CACHE_KEY": "short"})


def test_the_server_and_a_command_seal_with_the_stored_key(tmp_path: Path) -> None:
    system = small_system(tmp_path)
    system.prepare()
    try:
        served = system.cache.signer.seal("response", "k", b"v")
        command = Signer(deployment_key_source(system.settings, {}))
        assert served == command.seal("response", "k", b"v")
        assert served == Signer(stored_key(system.database)).seal("response", "k", b"v")
    finally:
        system.close()


def test_a_system_with_an_unset_configured_secret_fails_at_start(tmp_path: Path) -> None:
    system = small_system(tmp_path, security={"deployment_key_env": "SMOLIT_CACHE_KEY"})
    try:
        with pytest.raises(ConfigError, match="SMOLIT_CACHE_KEY"):
            system.prepare()
    finally:
        system.close()
