"""A backup taken while 10 clients keep submitting tasks over HTTP restores to exactly the
snapshot, and a server starts on the restored data.

A real `smolit serve` process (fake model) takes ``POST /tasks`` from 10 client threads
while an operator runs ``python -m smolit.backup create`` on the same data directory.
Then the clients and the server stop, the backup is verified and restored over the live
data (which by then holds tasks submitted after the snapshot), and the restored database is
compared, table by table (row count and a checksum of the rows), with the database file
inside the archive. Which tasks the snapshot holds is checked against when each client's
submit was answered: every task accepted before the backup started is in it, none submitted
after the backup finished is.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import free_port
from tests.integration.server import TWO_AGENTS, RunningServer, start_server

CLIENTS = 10
#: tasks accepted before the backup starts, and submitted after it finished, at least
BEFORE, AFTER = 30, 20
TEXTS = ["How long do I boil an egg?", "What should I pack for Rome?"]


def config(port: int) -> str:
    # server.port is where restore looks for a live server on this data
    return f"""
server: {{port: {port}}}
models:
  default_model: fake
  definitions:
    fake: {{backend: fake}}
{TWO_AGENTS}
"""


@dataclass(frozen=True)
class Submitted:
    task_id: str
    sent_at: float
    accepted_at: float


@dataclass
class Clients:
    """``CLIENTS`` threads that submit tasks until stopped, recording when each submit was
    sent and when it was answered (``time.monotonic``)."""

    server: RunningServer
    submitted: list[Submitted] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        self._threads = [
            threading.Thread(target=self._submit_until_stopped, args=(n,)) for n in range(CLIENTS)
        ]
        for thread in self._threads:
            thread.start()

    def _submit_until_stopped(self, n: int) -> None:
        with self.server.client() as client:
            while not self._stop.is_set():
                sent_at = time.monotonic()
                try:
                    response = client.post("/tasks", json={"text": f"{TEXTS[n % 2]} ({n})"})
                    response.raise_for_status()
                except httpx.HTTPError as exc:  # recorded, not raised: the test reports it
                    self._record(error=f"client {n}: {exc!r}")
                    return
                self._record(Submitted(str(response.json()["id"]), sent_at, time.monotonic()))

    def _record(self, submitted: Submitted | None = None, error: str | None = None) -> None:
        with self._changed:
            if submitted is not None:
                self.submitted.append(submitted)
            if error is not None:
                self.errors.append(error)
                self._stop.set()
            self._changed.notify_all()

    def wait_until(self, enough: int, sent_after: float = 0.0, seconds: float = 60) -> None:
        """Block until ``enough`` tasks sent after ``sent_after`` were accepted."""

        def done() -> bool:
            if self.errors:
                return True
            return sum(s.sent_at > sent_after for s in self.submitted) >= enough

        with self._changed:
            assert self._changed.wait_for(done, timeout=seconds), "the clients stalled"
        assert not self.errors, self.errors[:3]

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def backup_cli(home: Path, *args: str) -> dict[str, Any]:
    """``python -m smolit.backup ARGS --json`` on ``home``, as an operator runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "smolit.backup", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SMOLIT_HOME": str(home)},
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def table_digests(path: Path) -> dict[str, tuple[int, str]]:
    """Per table (and the schema): the row count and a SHA-256 of the rows, sorted so that
    the order the pages happen to hold them in does not matter."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
        schema = connection.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
        digests = {"(schema)": _digest(schema)}
        for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            digests[name] = _digest(connection.execute(f'SELECT * FROM "{name}"').fetchall())
    return digests


def _digest(rows: list[Any]) -> tuple[int, str]:
    text = "\n".join(sorted(repr(tuple(row)) for row in rows))
    return len(rows), hashlib.sha256(text.encode()).hexdigest()


def task_ids(path: Path) -> set[str]:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
        return {str(row[0]) for row in connection.execute("SELECT id FROM tasks")}


def archived_database(archive: Path, target: Path) -> Path:
    """The database file inside a (plain) backup archive: the snapshot itself."""
    with tarfile.open(archive, "r:gz") as tar:
        member = tar.extractfile("database/smolit.db")
        assert member is not None
        target.write_bytes(member.read())
    return target


def listed_task_ids(server: RunningServer) -> Iterator[str]:
    """Every task ``GET /tasks`` lists, page by page."""
    with server.client() as client:
        params: dict[str, Any] = {"limit": 500}
        while True:
            page = client.get("/tasks", params=params)
            page.raise_for_status()
            body = page.json()
            yield from (str(task["id"]) for task in body["tasks"])
            if not body["next"]:
                return
            params["before"] = body["next"]


def test_a_backup_under_load_restores_the_snapshot_and_serves(tmp_path: Path) -> None:
    home, port = tmp_path / "home", free_port()
    server = start_server(home, config(port), port=port)
    clients = Clients(server)
    try:
        clients.start()
        clients.wait_until(BEFORE)
        backup_started = time.monotonic()
        created = backup_cli(home, "create")
        backup_finished = time.monotonic()
        clients.wait_until(AFTER, sent_after=backup_finished)
    finally:
        clients.stop()
        server.stop()
    assert not clients.errors, clients.errors[:3]

    verified = backup_cli(home, "verify", created["id"])
    assert verified["ok"] and verified["database"] == "sqlite"
    snapshot = archived_database(home / "backups" / created["file"], tmp_path / "snapshot.db")
    in_snapshot = task_ids(snapshot)
    accepted_before = {s.task_id for s in clients.submitted if s.accepted_at < backup_started}
    sent_after = {s.task_id for s in clients.submitted if s.sent_at > backup_finished}
    during = [s for s in clients.submitted if backup_started < s.sent_at < backup_finished]
    assert len(accepted_before) >= BEFORE and during and len(sent_after) >= AFTER
    assert accepted_before <= in_snapshot
    assert not sent_after & in_snapshot
    assert in_snapshot <= {s.task_id for s in clients.submitted}
    assert sent_after <= task_ids(home / "smolit.db")  # the live data moved on

    restored = backup_cli(home, "restore", created["id"])
    assert str(home / "smolit.db") in restored["restored"]
    assert table_digests(home / "smolit.db") == table_digests(snapshot)

    again = start_server(home, config(port), port=port)
    try:
        assert httpx.get(f"{again.url}/health", timeout=10).status_code == 200
        assert set(listed_task_ids(again)) == in_snapshot
        with again.client() as client:
            task_id = client.post("/tasks", json={"text": TEXTS[0]}).json()["id"]
            task = client.get(f"/tasks/{task_id}", params={"wait": 60}).json()
        assert task["status"] == "succeeded", task
    finally:
        again.stop()
