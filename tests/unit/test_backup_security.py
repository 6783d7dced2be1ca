"""Backups and secrets at rest: plain archives refused under a key, nothing in the clear
while one is made, PostgreSQL passwords kept out of argv, encrypted installations."""

from __future__ import annotations

import asyncio
import base64
import io
import tarfile
from pathlib import Path

import pytest

from smolit.backup import BackupManager
from smolit.backup.crypto import MAGIC
from smolit.errors import ConfigError, ValidationError
from smolit.security.envelope import OpeningReader
from smolit.system import AgentNN
from smolit.tasks.store import NewTask, TaskStore
from tests.unit.helpers import small_settings
from tests.unit.test_data_at_rest import ENCRYPTED, KEY, MARKER, VARIABLE, build

BACKUP_KEY = {"SMOLIT_BACKUP_KEY": KEY}


def submit(system: AgentNN, text: str) -> None:
    asyncio.run(TaskStore(system.database).insert(NewTask(text, "bob", 1, 30.0, 3), 600.0))


def test_a_plain_archive_is_refused_when_a_key_is_configured(tmp_path: Path) -> None:
    system = build(tmp_path / "home")
    info = system.backups.create()
    keyed = small_settings(tmp_path / "home", system={"backup_key_env": "SMOLIT_BACKUP_KEY"})
    with pytest.raises(ValidationError, match=r"not encrypted.*system.backup_key_env"):
        BackupManager(keyed, BACKUP_KEY).restore(info.id)


def test_a_doctored_manifest_is_refused(tmp_path: Path) -> None:
    """Decrypted, edited and put back as a plain archive: refused under the key."""
    system = build(tmp_path / "home", system={"backup_key_env": "SMOLIT_BACKUP_KEY"})
    manager = BackupManager(system.settings, BACKUP_KEY)
    info = manager.create()
    key = base64.b64decode(KEY)
    with info.path.open("rb") as sealed:
        plain = io.BufferedReader(OpeningReader(sealed, key, MAGIC)).read()
    doctored = system.backups.directory / "smolit-doctored.tar.gz"
    with (
        tarfile.open(fileobj=io.BytesIO(plain), mode="r:gz") as old,
        tarfile.open(doctored, "w:gz") as new,
    ):
        for member in old.getmembers():
            data = old.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "manifest.json":
                data = data.replace(b'"sqlite"', b'"postgresql"')
                member.size = len(data)
            new.addfile(member, io.BytesIO(data))
    with pytest.raises(ValidationError, match="not encrypted"):
        manager.verify("smolit-doctored")


def test_no_file_in_the_clear_is_written_while_a_backup_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = build(tmp_path / "home", system={"backup_key_env": "SMOLIT_BACKUP_KEY"})
    submit(system, f"cook {MARKER}")
    (system.settings.models_dir / "tiny").mkdir(parents=True)
    (system.settings.models_dir / "tiny" / "weights.bin").write_bytes(MARKER.encode() * 10)
    directory = system.backups.directory
    seen: list[str] = []
    add = tarfile.TarFile.addfile

    def watching(self: tarfile.TarFile, *args: object, **kwargs: object) -> None:
        add(self, *args, **kwargs)  # type: ignore[arg-type]
        for path in directory.rglob("*"):
            if path.is_file() and MARKER.encode() in path.read_bytes():
                seen.append(path.name)

    monkeypatch.setattr(tarfile.TarFile, "addfile", watching)
    info = BackupManager(system.settings, BACKUP_KEY).create()
    assert info.encrypted and seen == []


def test_pg_tools_get_the_password_through_the_environment(tmp_path: Path) -> None:
    settings = small_settings(
        tmp_path / "home", storage="postgresql://smolit:s3cr3t-pw@127.0.0.1:5432/app"
    )
    argv, environment = BackupManager(settings, {}).pg_command("pg_dump", "--clean")
    assert not any("s3cr3t-pw" in arg for arg in argv)
    assert environment["PGPASSWORD"] == "s3cr3t-pw"
    assert argv[1] == "--dbname=postgresql://smolit@127.0.0.1:5432/app"


def test_a_query_string_password_is_kept_out_of_argv(tmp_path: Path) -> None:
    settings = small_settings(
        tmp_path / "home", storage="postgresql://smolit@127.0.0.1/app?password=s3cr3t-pw"
    )
    argv, environment = BackupManager(settings, {}).pg_command("psql")
    assert not any("s3cr3t-pw" in arg for arg in argv)
    assert environment["PGPASSWORD"] == "s3cr3t-pw"


def test_an_encrypted_installation_restores_under_its_key(tmp_path: Path) -> None:
    system = build(tmp_path / "home", KEY, **ENCRYPTED)
    system.knowledge.add_document("cooking", "eggs", f"boil the {MARKER} eggs", "eggs.md")
    submit(system, "boil an egg")
    info = system.backups.create()
    assert info.encrypted  # with the at-rest key and no backup key of its own
    submit(system, "after the backup")
    system.close()
    BackupManager(system.settings, {VARIABLE: KEY}).restore(info.id)
    again = build(tmp_path / "home", KEY, **ENCRYPTED)
    admin = again.tokens.authenticate(again.tokens.create("root", "admin").secret)
    assert [t.text for t in TaskStore(again.database).page(admin, limit=10)[0]] == ["boil an egg"]
    assert again.knowledge.search_sync("cooking", MARKER, mode="keyword")
    again.close()


def test_a_plain_database_restored_under_a_key_comes_back_encrypted(tmp_path: Path) -> None:
    system = build(tmp_path / "home", system={"backup_key_env": "SMOLIT_BACKUP_KEY"})
    submit(system, "boil an egg")
    info = BackupManager(system.settings, BACKUP_KEY).create()
    system.close()
    keyed = small_settings(
        tmp_path / "home", system={"backup_key_env": "SMOLIT_BACKUP_KEY"}, security=ENCRYPTED
    )
    BackupManager(keyed, {**BACKUP_KEY, VARIABLE: KEY}).restore(info.id)
    database = tmp_path / "home" / "smolit.db"
    assert not database.read_bytes().startswith(b"SQLite format 3")


def test_an_encrypted_database_is_not_restored_without_its_key(tmp_path: Path) -> None:
    backup_key: dict[str, object] = {"backup_key_env": "SMOLIT_BACKUP_KEY"}
    system = build(tmp_path / "home", KEY, system=backup_key, **ENCRYPTED)
    info = BackupManager(system.settings, {**BACKUP_KEY, VARIABLE: KEY}).create()
    system.close()
    plain = small_settings(tmp_path / "other", system=backup_key)
    (tmp_path / "other" / "backups").mkdir(parents=True)
    info.path.rename(tmp_path / "other" / "backups" / info.path.name)
    with pytest.raises(ConfigError, match=r"encrypted database.*security.encryption_key_env"):
        BackupManager(plain, BACKUP_KEY).restore(info.id)
