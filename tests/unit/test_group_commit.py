"""``GroupCommitter``: concurrent writes share transactions; each waiter hears of its own."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from smolit.errors import StorageError
from smolit.storage import Database
from smolit.storage.group_commit import GroupCommitter


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = create_engine(f"sqlite:///{tmp_path / 'g.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
    yield sessionmaker(engine)
    engine.dispose()


class Turn:
    """The committer's write turn: a test holds ``lock`` so that jobs pile up behind the
    batch waiting for it (``waiting`` says the write thread got there)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.waiting = threading.Event()

    def __enter__(self) -> None:
        self.waiting.set()
        self.lock.acquire()

    def __exit__(self, *_exc: object) -> None:
        self.lock.release()

    def hold(self, writer: GroupCommitter) -> Future[int]:
        """Take the turn; the write thread then waits for it with one job in hand."""
        self.lock.acquire()
        first = writer.submit(add(0))
        assert self.waiting.wait(10)
        return first


@pytest.fixture
def turn() -> Turn:
    return Turn()


@pytest.fixture
def committer(sessions: sessionmaker[Session], turn: Turn) -> Iterator[GroupCommitter]:
    writer = GroupCommitter(sessions, lambda: turn)
    yield writer
    writer.close()


def add(note_id: int) -> Callable[[Session], int]:
    def job(session: Session) -> int:
        session.execute(text("INSERT INTO notes VALUES (:id, 'x')"), {"id": note_id})
        return note_id

    return job


def stored(sessions: sessionmaker[Session]) -> list[int]:
    with sessions() as session:
        return list(session.scalars(text("SELECT id FROM notes ORDER BY id")))


def test_writes_waiting_together_commit_as_one_transaction(
    committer: GroupCommitter, sessions: sessionmaker[Session], turn: Turn
) -> None:
    first = turn.hold(committer)
    futures = [committer.submit(add(i)) for i in range(1, 50)]
    turn.lock.release()
    assert [f.result(timeout=10) for f in [first, *futures]] == list(range(50))
    assert stored(sessions) == list(range(50))
    assert (committer.batches, committer.jobs) == (2, 50)


def test_writes_from_many_threads_all_land(
    committer: GroupCommitter, sessions: sessionmaker[Session]
) -> None:
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda i: committer.run(add(i)), range(200)))
    assert results == list(range(200))
    assert stored(sessions) == list(range(200))


def test_a_failing_job_fails_alone(
    committer: GroupCommitter, sessions: sessionmaker[Session], turn: Turn
) -> None:
    def broken(_session: Session) -> int:
        raise ValueError("no")

    first = turn.hold(committer)
    good = [first, *(committer.submit(add(i)) for i in range(1, 3))]
    bad = committer.submit(broken)
    duplicate = committer.submit(add(1))  # the same key as an earlier job in the batch
    more = [committer.submit(add(i)) for i in range(3, 6)]
    turn.lock.release()
    with pytest.raises(ValueError, match="no"):
        bad.result(timeout=10)
    with pytest.raises(IntegrityError):
        duplicate.result(timeout=10)
    assert [f.result(timeout=10) for f in good + more] == list(range(6))
    assert stored(sessions) == list(range(6))


def test_a_failed_commit_reaches_every_waiter(
    committer: GroupCommitter, sessions: sessionmaker[Session], turn: Turn
) -> None:
    def refuse(_session: Session) -> None:
        raise RuntimeError("disk full")

    event.listen(sessions, "before_commit", refuse)
    first = turn.hold(committer)
    futures = [first, *(committer.submit(add(i)) for i in range(1, 5))]
    turn.lock.release()
    for future in futures:
        with pytest.raises(RuntimeError, match="disk full"):
            future.result(timeout=10)
    event.remove(sessions, "before_commit", refuse)
    assert stored(sessions) == []


def test_a_job_cancelled_before_it_ran_is_dropped(
    committer: GroupCommitter, sessions: sessionmaker[Session], turn: Turn
) -> None:
    turn.hold(committer)
    dropped = committer.submit(add(1))
    assert dropped.cancel()
    turn.lock.release()
    assert committer.run(add(2)) == 2
    assert stored(sessions) == [0, 2]


def test_a_job_cannot_wait_for_another_write(committer: GroupCommitter) -> None:
    def nested(_session: Session) -> int:
        return committer.run(add(1))

    with pytest.raises(StorageError, match="cannot wait"):
        committer.run(nested)


def test_close_finishes_queued_jobs_and_a_later_write_starts_again(
    committer: GroupCommitter, sessions: sessionmaker[Session]
) -> None:
    future = committer.submit(add(1))
    committer.close()
    assert future.done() and future.result() == 1
    assert committer.run(add(2)) == 2
    assert stored(sessions) == [1, 2]


def test_a_write_inside_a_session_does_not_wait_for_the_write_thread(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'd.db'}")
    database.migrate()
    with database.session() as session:  # holds the write turn
        session.execute(text("SELECT 1"))
        assert database.write_sync(lambda inner: inner.execute(text("SELECT 2")).scalar()) == 2
    database.dispose()


def test_write_answers_on_the_event_loop(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'd.db'}")
    database.migrate()

    def job(session: Session) -> object:
        return session.execute(text("SELECT 3")).scalar()

    assert asyncio.run(database.write(job)) == 3
    database.dispose()
