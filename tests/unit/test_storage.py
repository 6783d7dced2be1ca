import pytest
from sqlalchemy import text

from smolit.errors import StorageError
from smolit.storage import Database, TaskRow
from smolit.storage.tables import utcnow


def test_migrate_creates_every_table(database_url: str) -> None:
    database = Database(database_url)
    database.migrate()
    assert {"agents", "api_tokens", "tasks", "alembic_version"} <= set(database.table_names())
    database.dispose()


def test_migrate_twice_is_harmless(database_url: str) -> None:
    database = Database(database_url)
    database.migrate()
    database.migrate()
    assert "tasks" in database.table_names()
    database.dispose()


def test_task_rows_round_trip_json_columns(database_url: str) -> None:
    database = Database(database_url)
    database.migrate()
    with database.session() as session:
        session.add(
            TaskRow(
                id="t1",
                text="hi",
                status="queued",
                submitted_by="u",
                out_of_scope=False,
                route={"scores": [1, 2]},
                sources=[{"a": 1}],
                timings={"x": 0.5},
                attempts=0,
                timeout=5,
                created_at=utcnow(),
            )
        )
    with database.session() as session:
        row = session.get(TaskRow, "t1")
        assert row is not None
        assert (row.route, row.sources, row.timings) == ({"scores": [1, 2]}, [{"a": 1}], {"x": 0.5})
    database.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path) -> None:  # type: ignore[no-untyped-def]
    database = Database(f"sqlite:///{tmp_path / 'w.db'}")
    with database.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    database.dispose()


def test_unreachable_postgres_names_the_url_without_password() -> None:
    database = Database("postgresql://bob:secret@127.0.0.1:1/nowhere")
    with pytest.raises(StorageError) as caught:
        database.migrate()
    assert "127.0.0.1:1/nowhere" in caught.value.message
    assert "secret" not in caught.value.message


def test_unsupported_database_is_refused() -> None:
    with pytest.raises(StorageError, match="unsupported database"):
        Database("mysql://root@127.0.0.1/test")
