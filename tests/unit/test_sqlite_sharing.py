"""A SQLite file a process keeps open stays one database for every process that opens it.

POSIX record locks belong to a process, not to a descriptor: closing *any* descriptor of a
file drops every lock the process holds on it. SQLite keeps its own descriptors open for
that reason, but a plain ``open``/``close`` of the database file elsewhere in the process
(to read its header, to fix its mode) silently drops the locks of its live connections.
The next process that closes its connection then believes it was the last one, checkpoints
and deletes the WAL under the server's feet: the server goes on writing into an unlinked
file, other processes see its writes no more, and a restart loses them.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from smolit.backup.archive import _is_database
from smolit.storage import sqlcipher
from smolit.storage.database import Database

READ_AND_CLOSE = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], timeout=30)
print(connection.execute("SELECT count(*) FROM notes").fetchone()[0])
connection.close()
"""


def rows_seen_by_another_process(path: Path) -> int:
    done = subprocess.run(
        [sys.executable, "-c", READ_AND_CLOSE, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return int(done.stdout)


def insert_note(database: Database) -> None:
    with database.session() as session:
        session.execute(text("INSERT INTO notes (body) VALUES ('kept')"))


def test_new_connections_and_header_checks_keep_the_wal_shared(tmp_path: Path) -> None:
    path = tmp_path / "smolit.db"
    database = Database(f"sqlite:///{path}")
    try:
        with database.session() as session:
            session.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
        insert_note(database)
        # one connection held open while the pool opens more (each new connection used to
        # open and close the file to check its header and mode), and the header read as a
        # backup does it
        with database.engine.connect() as held:
            held.execute(text("SELECT count(*) FROM notes")).scalar_one()
            with database.engine.connect() as second, database.engine.connect() as third:
                second.execute(text("SELECT 1"))
                third.execute(text("SELECT 1"))
            assert sqlcipher.state(path) == "plain"
            assert _is_database(path, None)
            assert rows_seen_by_another_process(path) == 1
            insert_note(database)
            assert path.with_name("smolit.db-wal").exists()
            assert rows_seen_by_another_process(path) == 2
        insert_note(database)
        assert rows_seen_by_another_process(path) == 3
    finally:
        database.dispose()
    # and everything is in the file once the process lets go
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT count(*) FROM notes").fetchone()[0] == 3
    connection.close()


def test_the_header_check_reads_a_file_whose_name_has_uri_characters(tmp_path: Path) -> None:
    path = tmp_path / "odd?name#1" / "smolit.db"
    path.parent.mkdir()
    assert sqlcipher.state(path) == "new"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY)")
    connection.close()
    assert sqlcipher.state(path) == "plain"
    path.with_name("other.db").write_bytes(b"\x93" * 4096)
    assert sqlcipher.state(path.with_name("other.db")) == "encrypted"
