"""``TaskStore`` on SQLite and PostgreSQL: claims, leases, retries, cancels, idempotency."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from smolit.errors import ConflictError, NotFoundError, ValidationError
from smolit.security.tokens import Principal
from smolit.storage import Database
from smolit.tasks.states import TaskStatus
from smolit.tasks.store import NewTask, TaskStore
from smolit.tasks.view import TaskView
from smolit.testing.clock import ManualDateClock

ALICE = Principal(user="alice", role="user", token_id="a")
BOB = Principal(user="bob", role="user", token_id="b")
ADMIN = Principal(user="root", role="admin", token_id="r")


@pytest.fixture
def clock() -> ManualDateClock:
    return ManualDateClock()


@pytest.fixture
def store(database_url: str, clock: ManualDateClock) -> Iterator[TaskStore]:
    database = Database(database_url)
    database.migrate()
    yield TaskStore(database, clock=clock.now)
    database.dispose()


def new(text: str = "boil an egg", key: str | None = None, attempts: int = 3) -> NewTask:
    return NewTask(
        text, "alice", priority=1, timeout=30, max_attempts=attempts, idempotency_key=key
    )


def statuses(store: TaskStore, task_id: str) -> list[str]:
    return [e["status"] for e in store.events(task_id)]


def test_only_one_worker_wins_a_claim(store: TaskStore) -> None:
    view, _ = asyncio.run(store.insert(new(), requeue_after=60))
    first = asyncio.run(store.claim(view.id, "w1", lease=30))
    assert first is not None and first.attempt == 1
    assert asyncio.run(store.claim(view.id, "w2", lease=30)) is None


def test_a_lost_worker_s_task_is_claimed_again_and_its_old_claim_is_void(
    store: TaskStore, clock: ManualDateClock
) -> None:
    view, _ = asyncio.run(store.insert(new(), requeue_after=60))
    dead = asyncio.run(store.claim(view.id, "w1", lease=0.05))
    assert dead is not None
    clock.advance(0.1)
    assert [task_id for task_id, _ in store.due()] == [view.id]
    alive = asyncio.run(store.claim(view.id, "w2", lease=30))
    assert alive is not None and alive.attempt == 2
    assert not asyncio.run(store.update_claimed(dead, TaskStatus.SUCCEEDED, answer="late"))
    assert asyncio.run(store.update_claimed(alive, TaskStatus.SUCCEEDED, answer="on time"))
    done = store.load(view.id)
    assert done is not None and (done.status, done.answer) == (TaskStatus.SUCCEEDED, "on time")
    assert statuses(store, view.id).count("succeeded") == 1


def test_a_task_whose_worker_dies_every_time_fails_with_a_reason(
    store: TaskStore, clock: ManualDateClock
) -> None:
    view, _ = asyncio.run(store.insert(new(attempts=2), requeue_after=60))
    for worker in ("w1", "w2"):
        assert asyncio.run(store.claim(view.id, worker, lease=0.01)) is not None
        clock.advance(0.05)
    assert asyncio.run(store.claim(view.id, "w3", lease=30)) is None
    failed = store.load(view.id)
    assert failed is not None and failed.status == TaskStatus.FAILED
    assert "worker was lost on each of 2 attempts" in (failed.error or "")


def test_transient_failures_retry_with_backoff_then_fail(
    store: TaskStore, clock: ManualDateClock
) -> None:
    view, _ = asyncio.run(store.insert(new(attempts=2), requeue_after=60))
    claim = asyncio.run(store.claim(view.id, "w1", lease=30))
    assert claim is not None
    assert (
        asyncio.run(store.fail_attempt(claim, "model down", True, backoff=1.0, requeue_after=60))
        == 1.0
    )
    assert asyncio.run(store.claim(view.id, "w1", lease=30)) is None  # still backing off
    clock.advance(1.1)
    again = asyncio.run(store.claim(view.id, "w1", lease=30))
    assert again is not None and again.attempt == 2
    assert (
        asyncio.run(store.fail_attempt(again, "model down", True, backoff=0.05, requeue_after=60))
        is None
    )
    failed = store.load(view.id)
    assert failed is not None and failed.status == TaskStatus.FAILED
    assert [f["attempt"] for f in failed.failures] == [1, 2]


def test_a_permanent_failure_does_not_retry(store: TaskStore) -> None:
    view, _ = asyncio.run(store.insert(new(), requeue_after=60))
    claim = asyncio.run(store.claim(view.id, "w1", lease=30))
    assert claim is not None
    assert (
        asyncio.run(store.fail_attempt(claim, "bad input", False, backoff=0, requeue_after=60))
        is None
    )
    assert statuses(store, view.id) == ["queued", "routing", "failed"]


def test_idempotent_submits(store: TaskStore) -> None:
    first, created = asyncio.run(store.insert(new(key="k1"), requeue_after=60))
    again, created_again = asyncio.run(store.insert(new(key="k1"), requeue_after=60))
    assert created and not created_again and again.id == first.id
    with pytest.raises(ConflictError, match="k1"):
        asyncio.run(store.insert(new("another text", key="k1"), requeue_after=60))
    other_user = NewTask("boil an egg", "bob", 1, 30, 3, idempotency_key="k1")
    assert asyncio.run(store.insert(other_user, requeue_after=60))[0].id != first.id


def test_cancel_queued_at_once_running_on_request_finished_is_409(store: TaskStore) -> None:
    queued, _ = asyncio.run(store.insert(new(), requeue_after=60))
    assert store.cancel(queued.id, ALICE).status == TaskStatus.CANCELLED
    running, _ = asyncio.run(store.insert(new("two"), requeue_after=60))
    claim = asyncio.run(store.claim(running.id, "w1", lease=30))
    assert claim is not None
    view = store.cancel(running.id, ALICE)
    assert view.status == TaskStatus.ROUTING and view.cancel_requested
    assert not asyncio.run(store.renew(claim, lease=30))  # the worker learns at its next heartbeat
    assert asyncio.run(store.cancel_claimed(claim))
    with pytest.raises(ConflictError, match="already cancelled"):
        store.cancel(running.id, ALICE)
    with pytest.raises(NotFoundError):
        store.cancel(running.id, BOB)


def test_listing_pages_and_filters(store: TaskStore) -> None:
    ids = [asyncio.run(store.insert(new(f"task {i}"), requeue_after=60))[0].id for i in range(5)]
    page, cursor = store.page(ALICE, limit=2)
    assert [v.id for v in page] == ids[:-3:-1] and cursor == ids[3]
    rest, end = store.page(ALICE, limit=10, before=cursor)
    assert [v.id for v in rest] == ids[2::-1] and end is None
    assert store.page(BOB)[0] == [] and len(store.page(ADMIN)[0]) == 5
    assert store.page(ALICE, status="queued", priority="normal")[0][0].id == ids[-1]
    with pytest.raises(ValidationError, match="unknown priority"):
        store.page(ALICE, priority="urgent")
    with pytest.raises(ValidationError, match="unknown status"):
        store.page(ALICE, status="sleeping")


def test_concurrent_submits_are_all_stored_with_their_events(store: TaskStore) -> None:
    async def submits() -> list[tuple[TaskView, bool]]:
        return await asyncio.gather(*(store.insert(new(f"task {i}"), 60) for i in range(40)))

    views = [view for view, _ in asyncio.run(submits())]
    assert len(store.page(ADMIN, limit=100)[0]) == 40
    assert all(statuses(store, view.id) == ["queued"] for view in views)


def test_concurrent_submits_with_one_idempotency_key_store_one_task(store: TaskStore) -> None:
    async def submits() -> list[tuple[TaskView, bool]]:
        return await asyncio.gather(*(store.insert(new(key="k"), 60) for _ in range(8)))

    results = asyncio.run(submits())
    assert len({view.id for view, _ in results}) == 1
    assert [created for _, created in results].count(True) == 1


def test_a_claimed_update_of_an_unknown_field_is_refused(store: TaskStore) -> None:
    view, _ = asyncio.run(store.insert(new(), requeue_after=60))
    claim = asyncio.run(store.claim(view.id, "w1", lease=30))
    assert claim is not None
    with pytest.raises(TypeError, match="answr"):
        asyncio.run(store.update_claimed(claim, TaskStatus.SUCCEEDED, answr="typo"))
    assert asyncio.run(store.update_claimed(claim, TaskStatus.SUCCEEDED, answer="fine"))
