"""``GroupCommitter``: many concurrent writes, one transaction and one commit.

SQLite takes one writer at a time, so writers queue for the file whatever they do; each
also pays for its own session, connection checkout and commit. Here a writer hands its
write to the committer as a *job* (a function of a session) and waits for it; one thread
takes every job waiting, runs them in one transaction under the database's write turn and
commits once, then answers each waiter. A job's waiter hears back only after the commit
that holds its write, so a returned write is as durable as before.

Each job is flushed and its objects let go (expunged) before the next runs, so jobs see
each other's writes but never each other's stale objects. A job that raises gets its own
error back; the batch is rolled back and the other jobs run again without it. A failed
commit is reported to every waiter of that batch.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from smolit.errors import StorageError

logger = logging.getLogger(__name__)
T = TypeVar("T")

WriteJob = Callable[[Session], T]

#: most jobs in one transaction (a long batch keeps its waiters waiting)
MAX_BATCH = 256


@dataclass(frozen=True)
class _Pending(Generic[T]):
    job: WriteJob[T]
    future: Future[T]


class GroupCommitter:
    """Runs write jobs on one thread, as many per transaction as are waiting."""

    def __init__(
        self,
        sessions: Callable[[], Session],
        turn: Callable[[], AbstractContextManager[Any]],
        max_batch: int = MAX_BATCH,
        name: str = "smolit-writer",
    ) -> None:
        """``sessions`` opens a session; ``turn`` is held around each batch (the
        database's in-process write lock)."""
        self._sessions = sessions
        self._turn = turn
        self._max_batch = max_batch
        self._name = name
        self._waiting: deque[_Pending[Any]] = deque()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closing = False
        #: transactions committed and jobs they held (for tests and metrics)
        self.batches = 0
        self.jobs = 0

    def submit(self, job: WriteJob[T]) -> Future[T]:
        """Queue ``job``; the future resolves once its transaction committed (or failed).
        Cancelling the future before the job started drops the job."""
        if threading.current_thread() is self._thread:
            raise StorageError("a write job cannot wait for another write job")
        future: Future[T] = Future()
        with self._wake:
            self._waiting.append(_Pending(job, future))
            if self._thread is None or not self._thread.is_alive():
                self._closing = False
                self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
                self._thread.start()
            self._wake.notify()
        return future

    def run(self, job: WriteJob[T]) -> T:
        """Run ``job`` and wait for its commit (blocking)."""
        return self.submit(job).result()

    def close(self, timeout: float = 30.0) -> None:
        """Finish the jobs already queued, then stop the thread (a later submit starts
        it again)."""
        with self._wake:
            thread = self._thread
            self._closing = True
            self._wake.notify()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _serve(self) -> None:
        while True:
            with self._wake:
                while not self._waiting and not self._closing:
                    self._wake.wait()
                if not self._waiting:
                    self._thread = None
                    return
                taken = [
                    self._waiting.popleft() for _ in range(min(self._max_batch, len(self._waiting)))
                ]
            batch = [pending for pending in taken if pending.future.set_running_or_notify_cancel()]
            try:
                self._run(batch)
            except BaseException as exc:  # never leave a waiter hanging
                logger.exception("the write thread failed")
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(exc)

    def _run(self, batch: list[_Pending[Any]]) -> None:
        """Commit ``batch`` as one transaction; a job that raises is answered with its
        error and the rest run again without it."""
        while batch:
            failed = self._attempt(batch)
            if failed is None:
                return
            batch = batch[:failed] + batch[failed + 1 :]

    def _attempt(self, batch: list[_Pending[Any]]) -> int | None:
        """One transaction over ``batch``; the index of the job that raised, or None
        when every waiter has its answer."""
        results: list[Any] = []
        with self._turn():
            session = self._sessions()
            try:
                for index, pending in enumerate(batch):
                    try:
                        results.append(pending.job(session))
                        session.flush()
                    except Exception as exc:
                        pending.future.set_exception(exc)
                        return index
                    session.expunge_all()
                try:
                    session.commit()
                except Exception as exc:
                    for pending in batch:
                        pending.future.set_exception(exc)
                    return None
            finally:
                session.close()  # rolls back whatever was not committed
        self.batches += 1
        self.jobs += len(batch)
        for pending, result in zip(batch, results, strict=True):
            pending.future.set_result(result)
        return None
