"""Data at rest: private file modes, and encryption with ``security.encryption_key_*``."""

from __future__ import annotations

import asyncio
import base64
import logging
import stat
from pathlib import Path
from typing import TypedDict

import pytest

from smolit.backup import BackupManager
from smolit.cli.backup_cmd import main
from smolit.errors import ConfigError, KnowledgeError, StorageError
from smolit.models import ModelManager
from smolit.security.envelope import FILE_MAGIC
from smolit.system import AgentNN
from smolit.tasks.store import NewTask, TaskStore
from smolit.testing import FakeModel, LookupEncoder
from tests.conftest import free_port
from tests.unit.helpers import small_settings

KEY = base64.b64encode(bytes(range(32))).decode()
OTHER = base64.b64encode(bytes(32)).decode()
VARIABLE = "SMOLIT_AT_REST_KEY"
MARKER = "zebrafinchmarmalade"


class KeySetting(TypedDict):
    encryption_key_env: str


#: ``security`` settings that encrypt at rest with the key in VARIABLE
ENCRYPTED: KeySetting = {"encryption_key_env": VARIABLE}


def build(
    home: Path, key: str | None = None, system: dict[str, object] | None = None, **security: object
) -> AgentNN:
    settings = small_settings(
        home, server={"port": free_port()}, security=security, system=system or {}
    )
    models = ModelManager(settings.models)
    models.add_instance("fake", FakeModel())
    environ = {VARIABLE: key} if key else {}
    built = AgentNN(settings, encoder=LookupEncoder(), models=models, environ=environ)
    built.prepare()
    return built


def fill(system: AgentNN) -> None:
    """A document, an upload, a vector index, a task: each holding ``MARKER``."""
    system.knowledge.add_document("cooking", "eggs", f"boil the {MARKER} eggs", "eggs.md")
    system.knowledge.add_upload("cooking", "notes.txt", f"{MARKER} upload notes".encode())
    assert system.knowledge.search_sync("cooking", MARKER)
    asyncio.run(
        TaskStore(system.database).insert(NewTask(f"cook {MARKER}", "bob", 1, 30.0, 3), 600.0)
    )


def files_under(home: Path) -> list[Path]:
    return [path for path in home.rglob("*") if path.is_file()]


def test_everything_under_the_home_is_private(tmp_path: Path) -> None:
    system = build(tmp_path / "home")
    fill(system)
    system.cache.embedding.put_many("e", "1", ["text"], LookupEncoder().encode(["text"]))
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"weights")
    weights.chmod(0o644)
    system.model_versions.register_files("tiny", "weights", weights)
    info = system.backups.create()
    home = system.settings.home
    system.close()
    system.backups.restore(info.id)
    opened = [
        f"{path.relative_to(home)} {stat.S_IMODE(path.stat().st_mode):o}"
        for path in [home, *home.rglob("*")]
        if stat.S_IMODE(path.stat().st_mode) & (stat.S_IRWXG | stat.S_IRWXO)
    ]
    assert opened == []


def test_an_open_existing_home_is_made_0700(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o755)
    with caplog.at_level(logging.INFO, logger="smolit.storage.private"):
        build(home).close()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert "now 700" in caplog.text


def test_with_a_key_no_file_holds_the_ingested_text(tmp_path: Path) -> None:
    system = build(tmp_path / "home", KEY, **ENCRYPTED)
    fill(system)
    system.close()
    files = files_under(tmp_path / "home")
    assert {p.name for p in files} >= {"smolit.db", "knowledge.db", "notes.txt", "cooking.faiss"}
    assert [p.name for p in files if MARKER.encode() in p.read_bytes()] == []
    faiss_file = next(p for p in files if p.name == "cooking.faiss")
    assert faiss_file.read_bytes().startswith(FILE_MAGIC)


def test_with_a_key_everything_reads_back(tmp_path: Path) -> None:
    build(tmp_path / "home", KEY, **ENCRYPTED).close()
    system = build(tmp_path / "home", KEY, **ENCRYPTED)
    fill(system)
    system.close()
    again = build(tmp_path / "home", KEY, **ENCRYPTED)
    assert again.knowledge.search_sync("cooking", MARKER, mode="keyword")[0].text.count(MARKER) == 1
    assert again.knowledge.search_sync("cooking", MARKER, mode="semantic")
    assert again.knowledge.upload("cooking", "notes.txt") == f"{MARKER} upload notes".encode()
    tasks = TaskStore(again.database)
    admin = again.tokens.authenticate(again.tokens.create("root", "admin").secret)
    assert [t.text for t in tasks.page(admin, limit=10)[0]] == [f"cook {MARKER}"]
    again.close()


def test_a_wrong_key_is_refused_naming_the_setting(tmp_path: Path) -> None:
    build(tmp_path / "home", KEY, **ENCRYPTED).close()
    with pytest.raises(ConfigError, match=r"security.encryption_key_env") as caught:
        build(tmp_path / "home", OTHER, **ENCRYPTED)
    assert OTHER not in caught.value.message


def test_no_key_for_an_encrypted_database_names_the_setting(tmp_path: Path) -> None:
    build(tmp_path / "home", KEY, **ENCRYPTED).close()
    with pytest.raises((KnowledgeError, StorageError), match=r"security.encryption_key_env"):
        build(tmp_path / "home")


def test_a_plain_database_with_a_new_key_says_how_to_encrypt_it(tmp_path: Path) -> None:
    build(tmp_path / "home").close()
    with pytest.raises(ConfigError, match=r"python -m smolit.backup encrypt"):
        build(tmp_path / "home", KEY, **ENCRYPTED)


def test_the_encrypt_command_encrypts_existing_data(tmp_path: Path) -> None:
    system = build(tmp_path / "home")
    fill(system)
    system.close()
    settings = small_settings(tmp_path / "home", security=ENCRYPTED)
    changed = BackupManager(settings, {VARIABLE: KEY}).encrypt()
    assert any(name.endswith("smolit.db") for name in changed)
    assert [
        p.name for p in files_under(tmp_path / "home") if MARKER.encode() in p.read_bytes()
    ] == []
    again = build(tmp_path / "home", KEY, **ENCRYPTED)
    assert again.knowledge.search_sync("cooking", MARKER, mode="keyword")
    assert again.knowledge.upload("cooking", "notes.txt") == f"{MARKER} upload notes".encode()
    again.close()


def test_a_malformed_key_is_a_config_error_without_the_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"security.encryption_key_env") as caught:
        build(tmp_path / "home", "bm90LWEta2V5", **ENCRYPTED)
    assert "bm90LWEta2V5" not in caught.value.message


def test_both_key_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not both"):
        build(tmp_path / "home", KEY, encryption_key_file="key", **ENCRYPTED)


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(KEY)
    key_file.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        build(tmp_path / "home", encryption_key_file=str(key_file))


def test_a_0600_key_file_encrypts(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o600)
    build(tmp_path / "home", encryption_key_file=str(key_file)).close()
    assert not (tmp_path / "home" / "smolit.db").read_bytes().startswith(b"SQLite format 3")


def test_a_tampered_vector_index_is_rebuilt(tmp_path: Path) -> None:
    system = build(tmp_path / "home", KEY, **ENCRYPTED)
    fill(system)
    system.close()
    index = next(p for p in files_under(tmp_path / "home") if p.name == "cooking.faiss")
    data = bytearray(index.read_bytes())
    data[40] ^= 0xFF
    index.write_bytes(bytes(data))
    again = build(tmp_path / "home", KEY, **ENCRYPTED)
    assert again.knowledge.search_sync("cooking", MARKER, mode="semantic")
    assert index.read_bytes() != bytes(data)
    again.close()


def test_a_tampered_upload_is_detected(tmp_path: Path) -> None:
    system = build(tmp_path / "home", KEY, **ENCRYPTED)
    fill(system)
    path = system.knowledge.uploads_dir / "cooking" / "notes.txt"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(Exception, match="altered"):
        system.knowledge.upload("cooking", "notes.txt")
    system.close()


def test_the_disk_embedding_cache_is_off_with_a_key(tmp_path: Path) -> None:
    system = build(tmp_path / "home", KEY, **ENCRYPTED)
    system.cache.embedding.put_many("e", "1", ["text"], LookupEncoder().encode(["text"]))
    assert not (tmp_path / "home" / "cache").exists()
    system.close()


def test_the_encrypt_command_without_a_key_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build(tmp_path / "home").close()
    with pytest.raises(SystemExit) as exited:
        main(["encrypt", "--home", str(tmp_path / "home")])
    assert exited.value.code == 2
    assert "security.encryption_key_env" in capsys.readouterr().err
