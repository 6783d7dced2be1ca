"""``BackupManager`` and ``python -m smolit.backup``: round trips, and every bad input."""

from __future__ import annotations

import asyncio
import base64
import errno
import io
import os
import sqlite3
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import pytest

from smolit.backup import BackupManager
from smolit.cli.backup_cmd import main
from smolit.errors import ConfigError, ConflictError, NotFoundError, StorageError, ValidationError
from smolit.system import AgentNN
from smolit.tasks.store import NewTask, TaskStore
from tests.conftest import free_port
from tests.unit.helpers import small_system

KEY = base64.b64encode(bytes(range(32))).decode()


def prepared(home: Path, **system: object) -> AgentNN:
    built = small_system(home, server={"port": free_port()}, system=system)
    built.prepare()
    return built


def count(home: Path, query: str) -> int:
    with sqlite3.connect(home / "smolit.db") as connection:
        return int(connection.execute(query).fetchone()[0])


def submit(system: AgentNN, text: str) -> None:
    asyncio.run(TaskStore(system.database).insert(NewTask(text, "bob", 1, 30.0, 3), 600.0))


@pytest.fixture
def system(tmp_path: Path) -> AgentNN:
    built = prepared(tmp_path / "home")
    (built.settings.models_dir / "tiny").mkdir(parents=True)
    (built.settings.models_dir / "tiny" / "weights.bin").write_bytes(b"\x00weights" * 100)
    return built


def test_restore_brings_back_the_data_of_the_snapshot(system: AgentNN) -> None:
    home = system.settings.home
    submit(system, "boil an egg")
    info = system.backups.create()
    submit(system, "after the backup")
    (system.settings.models_dir / "tiny" / "weights.bin").write_bytes(b"changed")
    system.close()
    report = BackupManager(system.settings, {}).restore(info.id)
    assert count(home, "select count(*) from tasks") == 1
    assert (
        system.settings.models_dir / "tiny" / "weights.bin"
    ).read_bytes() == b"\x00weights" * 100
    assert str(home / "smolit.db") in report["restored"]


def test_a_backup_under_concurrent_submits_is_consistent_and_serves(tmp_path: Path) -> None:
    system = prepared(tmp_path / "home")
    stop = threading.Event()

    def client(n: int) -> None:
        while not stop.is_set():
            submit(system, f"client {n}")

    clients = [threading.Thread(target=client, args=(n,)) for n in range(10)]
    for thread in clients:
        thread.start()
    try:
        info = system.backups.create()
    finally:
        stop.set()
        for thread in clients:
            thread.join()
    system.close()
    BackupManager(system.settings, {}).restore(info.id)
    home = system.settings.home
    tasks = count(home, "select count(*) from tasks")
    # each submit writes its task and its first event in one transaction
    assert tasks == count(home, "select count(*) from task_events where status = 'queued'")
    assert count(home, "select count(*) from tasks where status != 'queued'") == 0
    with sqlite3.connect(home / "smolit.db") as connection:
        assert connection.execute("pragma integrity_check").fetchone()[0] == "ok"
    restarted = prepared(home)
    admin = restarted.tokens.authenticate(restarted.tokens.create("root", "admin").secret)
    assert len(restarted.tasks.store.page(admin, limit=500)[0]) == min(tasks, 500)
    restarted.close()


def test_list_and_verify(system: AgentNN) -> None:
    info = system.backups.create()
    assert [b.id for b in system.backups.list()] == [info.id]
    report = system.backups.verify(info.id)
    assert report["ok"] and report["database"] == "sqlite" and report["files"] >= 2


def test_retention_keeps_the_newest(tmp_path: Path) -> None:
    system = prepared(tmp_path / "home", backup_keep=2)
    ids = [system.backups.create().id for _ in range(3)]
    assert [b.id for b in system.backups.list()] == [ids[2], ids[1]]


def test_an_unknown_id_lists_the_existing_ones(system: AgentNN) -> None:
    info = system.backups.create()
    with pytest.raises(NotFoundError, match=f"no backup 'nope'; existing backups: {info.id}"):
        system.backups.restore("nope")


def test_a_path_as_id_is_refused(system: AgentNN) -> None:
    with pytest.raises(ValidationError, match="not a backup id"):
        system.backups.verify("../smolit")


def test_an_encrypted_backup_round_trips_with_its_key(tmp_path: Path) -> None:
    system = prepared(tmp_path / "home", backup_key_env="SMOLIT_BACKUP_KEY")
    manager = BackupManager(system.settings, {"SMOLIT_BACKUP_KEY": KEY})
    info = manager.create()
    assert info.encrypted and info.path.name.endswith(".tar.gz.enc")
    assert b"SQLite format" not in info.path.read_bytes()
    assert manager.verify(info.id)["ok"]


def test_a_wrong_key_is_refused(tmp_path: Path) -> None:
    system = prepared(tmp_path / "home", backup_key_env="SMOLIT_BACKUP_KEY")
    info = BackupManager(system.settings, {"SMOLIT_BACKUP_KEY": KEY}).create()
    other = base64.b64encode(bytes(32)).decode()
    with pytest.raises(ValidationError, match="wrong key"):
        BackupManager(system.settings, {"SMOLIT_BACKUP_KEY": other}).restore(info.id)


def test_a_malformed_key_is_a_config_error(tmp_path: Path) -> None:
    system = prepared(tmp_path / "home", backup_key_env="SMOLIT_BACKUP_KEY")
    with pytest.raises(ConfigError, match="must hold 32 bytes"):
        BackupManager(system.settings, {"SMOLIT_BACKUP_KEY": "c2hvcnQ="}).create()


def test_a_truncated_encrypted_archive_is_refused(tmp_path: Path) -> None:
    system = prepared(tmp_path / "home", backup_key_env="SMOLIT_BACKUP_KEY")
    manager = BackupManager(system.settings, {"SMOLIT_BACKUP_KEY": KEY})
    info = manager.create()
    info.path.write_bytes(info.path.read_bytes()[:-100])
    with pytest.raises(ValidationError, match="truncated"):
        manager.verify(info.id)


def test_a_truncated_archive_is_refused(system: AgentNN) -> None:
    info = system.backups.create()
    info.path.write_bytes(info.path.read_bytes()[: info.size_bytes // 2])
    with pytest.raises(ValidationError, match="truncated or damaged"):
        system.backups.restore(info.id)


def repack(source: Path, target: Path, change: dict[str, bytes]) -> None:
    with tarfile.open(source, "r:gz") as old, tarfile.open(target, "w:gz") as new:
        for member in old.getmembers():
            data = old.extractfile(member).read() if member.isfile() else None  # type: ignore[union-attr]
            if member.name in change:
                data = change[member.name]
                member.size = len(data)
            new.addfile(member, io.BytesIO(data) if data is not None else None)


def test_a_tampered_archive_is_refused_before_anything_is_written(system: AgentNN) -> None:
    info = system.backups.create()
    submit(system, "kept")
    tampered = info.path.with_name("smolit-tampered.tar.gz")
    repack(info.path, tampered, {"models/tiny/weights.bin": b"evil"})
    with pytest.raises(ValidationError, match=r"checksum of models/tiny/weights.bin"):
        system.backups.restore("smolit-tampered")
    assert count(system.settings.home, "select count(*) from tasks") == 1


def write_tar(path: Path, members: list[tarfile.TarInfo]) -> None:
    with tarfile.open(path, "w:gz") as archive:
        for member in members:
            data = b"x" * member.size if member.isfile() else None
            archive.addfile(member, io.BytesIO(data) if data is not None else None)


def test_a_foreign_archive_is_refused(system: AgentNN) -> None:
    system.backups.directory.mkdir(parents=True, exist_ok=True)
    member = tarfile.TarInfo("photos/cat.jpg")
    member.size = 3
    write_tar(system.backups.directory / "foreign.tar.gz", [member])
    with pytest.raises(ValidationError, match="not a smolit backup"):
        system.backups.verify("foreign")


def test_a_parent_directory_member_is_refused(system: AgentNN) -> None:
    system.backups.directory.mkdir(parents=True, exist_ok=True)
    member = tarfile.TarInfo("../../escaped.txt")
    member.size = 3
    write_tar(system.backups.directory / "evil.tar.gz", [member])
    with pytest.raises(ValidationError, match="outside the restore directory"):
        system.backups.restore("evil")
    assert not (system.settings.home.parent / "escaped.txt").exists()


def test_a_link_member_is_refused(system: AgentNN) -> None:
    system.backups.directory.mkdir(parents=True, exist_ok=True)
    link = tarfile.TarInfo("models/passwd")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    write_tar(system.backups.directory / "linked.tar.gz", [link])
    with pytest.raises(ValidationError, match="is a link or a special file"):
        system.backups.restore("linked")


def test_a_full_disk_removes_the_partial_backup(
    system: AgentNN, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(self: tarfile.TarFile, *args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tarfile.TarFile, "addfile", full)
    with pytest.raises(StorageError, match="no space left on the device"):
        system.backups.create()
    assert list(system.backups.directory.iterdir()) == []


def test_restore_refuses_a_live_server_and_force_stops_it(system: AgentNN) -> None:
    info = system.backups.create()
    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        import socket

        system.workers.heartbeat("embedded@test", "embedded", [], 1, 0)
        with system.database.session() as session:
            from smolit.storage import WorkerRow

            row = session.get(WorkerRow, "embedded@test")
            assert row is not None
            row.pid, row.hostname = server.pid, socket.gethostname()
        with pytest.raises(ConflictError, match="a server or worker is running"):
            system.backups.restore(info.id)
        system.close()
        system.backups.restore(info.id, force=True)
        assert server.poll() is not None  # stopped (and reaped by the restore)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_a_gracefully_stopped_server_does_not_block_a_restore(tmp_path: Path) -> None:
    system = prepared(tmp_path / "home")
    info = system.backups.create()

    async def serve_then_stop() -> None:
        await system.start()
        system.workers.heartbeat(system.tasks.runner.worker, "embedded", [], 1, 0)
        await system.stop()

    asyncio.run(serve_then_stop())
    assert BackupManager(system.settings, {}).restore(info.id)["id"] == info.id


def test_restore_refuses_a_database_outside_the_data_directory(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    system = small_system(tmp_path / "home", server={"port": free_port()}, storage=url)
    system.prepare()
    info = system.backups.create()
    system.close()
    with pytest.raises(ValidationError, match="outside the data directory"):
        system.backups.restore(info.id)


def test_cli_unknown_id_is_one_line_and_nonzero(
    system: AgentNN, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    system.backups.create()
    monkeypatch.setenv("SMOLIT_HOME", str(system.settings.home))
    with pytest.raises(SystemExit) as exit_info:
        main(["restore", "nope"])
    assert exit_info.value.code != 0
    err = capsys.readouterr().err.strip()
    assert "no backup 'nope'; existing backups: smolit-" in err and len(err.splitlines()) == 1


def test_cli_create_list_verify(system: AgentNN, capsys: pytest.CaptureFixture[str]) -> None:
    home = str(system.settings.home)
    with pytest.raises(SystemExit) as done:
        main(["create", "--home", home])
    assert done.value.code == 0
    backup_id = system.backups.list()[0].id
    with pytest.raises(SystemExit):
        main(["verify", backup_id, "--home", home])
    assert f"{backup_id}: ok" in capsys.readouterr().out


def test_python_dash_m_runs_the_cli(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "smolit.backup", "list", "--home", str(tmp_path)],
        capture_output=True, text=True, env={**os.environ, "SMOLIT_CONFIG": ""},
    )  # fmt: skip
    assert done.returncode == 0 and "no backups yet" in done.stdout


def test_api_creates_and_lists_backups_for_admins_only(system: AgentNN) -> None:
    from fastapi.testclient import TestClient

    from smolit.api import create_app

    admin = {"Authorization": f"Bearer {system.tokens.create('root', 'admin').secret}"}
    user = {"Authorization": f"Bearer {system.tokens.create('bob', 'user').secret}"}
    with TestClient(create_app(system)) as client:
        assert client.post("/backups", headers=user).json()["error"]["type"] == "forbidden"
        created = client.post("/backups", headers=admin)
        assert created.status_code == 201
        listed = client.get("/backups", headers=admin).json()["backups"]
    assert [b["id"] for b in listed] == [created.json()["id"]]


@pytest.mark.postgres
def test_a_postgresql_backup_restores_with_pg_dump(tmp_path: Path, fresh_postgres_url: str) -> None:
    import shutil

    from sqlalchemy import create_engine, text

    if shutil.which("pg_dump") is None or shutil.which("psql") is None:
        pytest.skip("pg_dump/psql are not installed (apt-get install postgresql-client)")
    built = small_system(
        tmp_path / "home", server={"port": free_port()}, storage=fresh_postgres_url
    )
    built.prepare()
    submit(built, "boil an egg")
    info = built.backups.create()
    submit(built, "after the backup")
    built.close()
    BackupManager(built.settings, {}).restore(info.id)
    engine = create_engine(fresh_postgres_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as connection:
        texts = [row[0] for row in connection.execute(text("select text from tasks"))]
    engine.dispose()
    assert texts == ["boil an egg"]
