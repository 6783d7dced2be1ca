"""The task flow in process: TaskManager → Supervisor → router → WorkerAgent → model."""

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from smolit.errors import ModelError, NotFoundError, PermissionDeniedError, ValidationError
from smolit.security.tokens import Principal
from smolit.system import AgentNN
from smolit.tasks import TaskStatus, TaskView
from smolit.testing import FakeModel
from tests.unit.helpers import small_system

T = TypeVar("T")
ALICE = Principal("alice", "user", "t1")
BOB = Principal("bob", "user", "t2")
ROOT = Principal("root", "admin", "t3")


def run_in(system: AgentNN, body: Callable[[AgentNN], Awaitable[T]]) -> T:
    async def scenario() -> T:
        await system.start()
        try:
            return await body(system)
        finally:
            await system.stop()

    return asyncio.run(scenario())


async def submit_and_wait(system: AgentNN, text: str, who: Principal = ALICE) -> TaskView:
    view = await system.tasks.submit(text, who)
    return await system.tasks.get(view.id, who, wait=30)


def test_task_is_answered_by_the_routed_agent(tmp_path: Path) -> None:
    model = FakeModel(responses=["Boil it for seven minutes."])
    view = run_in(small_system(tmp_path, model), lambda s: submit_and_wait(s, "boil an egg"))
    assert view.status is TaskStatus.SUCCEEDED
    assert (view.agent, view.model, view.answer) == (
        "cooking",
        "fake",
        "Boil it for seven minutes.",
    )
    assert view.route is not None and view.route["agent"] == "cooking"


def test_model_sees_the_agent_system_prompt_and_context(tmp_path: Path) -> None:
    model = FakeModel()
    system = small_system(tmp_path, model)

    async def body(s: AgentNN) -> TaskView:
        s.knowledge.add_document("cooking", "Eggs", "boil an egg for seven minutes", "eggs.md")
        return await submit_and_wait(s, "boil an egg")

    view = run_in(system, body)
    assert view.sources and view.sources[0]["title"] == "Eggs"
    system_message = model.calls[0][0]
    assert system_message.role == "system" and "seven minutes" in system_message.content


def test_out_of_scope_task_gets_a_clear_answer_and_no_agent(tmp_path: Path) -> None:
    model = FakeModel()
    view = run_in(small_system(tmp_path, model), lambda s: submit_and_wait(s, "lattice qcd"))
    assert view.status is TaskStatus.SUCCEEDED
    assert view.out_of_scope and view.agent is None
    assert view.answer is not None and view.answer.startswith("No agent can handle this task.")
    assert model.calls == []


def test_failing_agent_falls_back_to_the_next(tmp_path: Path) -> None:
    model = FakeModel(responses=[ModelError("boom"), "from the fallback"])
    system = small_system(tmp_path, model, router={"out_of_scope_threshold": -1.0})
    view = run_in(system, lambda s: submit_and_wait(s, "boil an egg"))
    assert view.answer == "from the fallback"
    assert view.route is not None and view.route["failures"][0]["agent"] == "cooking"


def test_task_over_its_timeout_is_timed_out(tmp_path: Path) -> None:
    system = small_system(tmp_path, FakeModel(delay=2.0), system={"task_timeout": 0.2})
    view = run_in(system, lambda s: submit_and_wait(s, "boil an egg"))
    assert view.status is TaskStatus.TIMED_OUT


def test_empty_task_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="empty"):
        run_in(small_system(tmp_path), lambda s: s.tasks.submit("  \n", ALICE))


def test_oversized_task_is_refused(tmp_path: Path) -> None:
    system = small_system(tmp_path, server={"max_task_chars": 10})
    with pytest.raises(ValidationError, match="limit is 10"):
        run_in(system, lambda s: s.tasks.submit("x" * 11, ALICE))


def test_users_do_not_see_each_others_tasks(tmp_path: Path) -> None:
    async def body(s: AgentNN) -> None:
        view = await submit_and_wait(s, "boil an egg", ALICE)
        with pytest.raises(NotFoundError):
            await s.tasks.get(view.id, BOB)
        assert [t.id for t in s.tasks.store.page(ALICE)[0]] == [view.id]
        assert s.tasks.store.page(BOB) == ([], None)

    run_in(small_system(tmp_path), body)


def test_unfinished_tasks_run_after_a_restart(tmp_path: Path) -> None:
    system = small_system(tmp_path)
    system.prepare()
    from smolit.storage import TaskRow
    from smolit.storage.tables import utcnow

    with system.database.session() as session:
        session.add(
            TaskRow(
                id="left-over",
                text="boil an egg",
                status="running",
                submitted_by="alice",
                out_of_scope=False,
                sources=[],
                timings={},
                attempts=1,
                timeout=30,
                created_at=utcnow(),
            )
        )
    view = run_in(system, lambda s: s.tasks.get("left-over", ALICE, wait=30))
    assert view.status is TaskStatus.SUCCEEDED
    assert view.attempts == 2


def test_run_sync_answers_one_task(tmp_path: Path) -> None:
    view = small_system(tmp_path, FakeModel(responses=["ok"])).run_sync("book a flight")
    assert (view.agent, view.answer) == ("travel", "ok")


def test_transient_failures_are_retried_with_backoff(tmp_path: Path) -> None:
    # both agents fail on the first attempt (so the supervisor has no fallback left)
    model = FakeModel(responses=[ModelError("down"), ModelError("down"), "second attempt"])
    system = small_system(
        tmp_path,
        model,
        router={"out_of_scope_threshold": -1.0},
        system={"retry_backoff": 0.05, "max_attempts": 3},
    )
    view = run_in(system, lambda s: submit_and_wait(s, "boil an egg"))
    assert (view.status, view.answer, view.attempts) == (
        TaskStatus.SUCCEEDED,
        "second attempt",
        2,
    )
    assert (
        view.failures[0]["transient"]
        and "every candidate agent failed" in view.failures[0]["error"]
    )


def test_a_running_task_is_cancelled_at_once(tmp_path: Path) -> None:
    system = small_system(tmp_path, FakeModel(delay=5.0))

    async def body(s: AgentNN) -> TaskView:
        view = await s.tasks.submit("boil an egg", ALICE)
        for _ in range(100):
            if (await s.tasks.get(view.id, ALICE)).status == TaskStatus.RUNNING:
                break
            await asyncio.sleep(0.02)
        return await s.tasks.cancel(view.id, ALICE)

    view = run_in(system, body)
    assert view.status is TaskStatus.CANCELLED and view.error is not None


def test_high_priority_tasks_run_first(tmp_path: Path) -> None:
    from smolit.tasks.manager import SubmitOptions

    model = FakeModel(delay=0.05)
    system = small_system(tmp_path, model, system={"max_concurrent_tasks": 1})

    async def body(s: AgentNN) -> list[str]:
        blocker = await s.tasks.submit("boil an egg first", ALICE)
        await asyncio.sleep(0.02)  # the single worker is busy with the blocker
        low = await s.tasks.submit("bake bread low", ALICE, SubmitOptions(priority="low"))
        high = await s.tasks.submit("roast a chicken high", ROOT, SubmitOptions(priority="high"))
        for view in (blocker, low, high):
            await s.tasks.get(view.id, ROOT, wait=30)
        return [calls[-1].content for calls in model.calls]

    order = run_in(system, body)
    assert order == ["boil an egg first", "roast a chicken high", "bake bread low"]


def test_timeout_out_of_range_is_refused(tmp_path: Path) -> None:
    from smolit.tasks.manager import SubmitOptions

    system = small_system(tmp_path)

    async def body(s: AgentNN) -> None:
        await s.tasks.submit("boil an egg", ALICE, SubmitOptions(timeout=10_000))

    with pytest.raises(ValidationError, match="max_task_timeout"):
        run_in(system, body)


def test_feedback_recorded_by_another_process_reaches_this_router(tmp_path: Path) -> None:
    server = small_system(tmp_path / "a", storage=f"sqlite:///{tmp_path / 'shared.db'}")
    worker = small_system(tmp_path / "b", storage=f"sqlite:///{tmp_path / 'shared.db'}")
    view = run_in(server, lambda s: submit_and_wait(s, "boil an egg"))
    worker.prepare()
    before = worker.router.learner.stats()
    server.prepare()
    server.feedback.record(view.id, ALICE, success=True, rating=None)
    assert worker.feedback.sync() == 1 and worker.feedback.sync() == 0
    assert worker.router.learner.stats() != before
    worker.close()
    server.close()


class FlakyQueue:
    """A distributed queue whose broker is down until ``up`` is set."""

    def __init__(self) -> None:
        self.up = False
        self.sent: list[str] = []

    def put(self, task_id: str, priority: int, delay: float = 0.0) -> None:
        if not self.up:
            raise ConnectionError("broker down")
        self.sent.append(task_id)


def test_a_task_submitted_while_the_broker_is_down_is_queued_when_it_returns(
    tmp_path: Path,
) -> None:
    from smolit.tasks.manager import TaskManager
    from smolit.tasks.store import TaskStore

    system = small_system(tmp_path)
    system.prepare()
    queue = FlakyQueue()
    manager = TaskManager(TaskStore(system.database), system.supervisor, system.settings, queue)

    async def body() -> list[str]:
        await manager.start()
        view = await manager.submit("boil an egg", ALICE)  # accepted although not queued
        assert manager.requeue_due() == 0  # still down: nothing sent, nothing lost
        queue.up = True
        assert manager.requeue_due() == 1
        await manager.stop()
        return [view.id]

    ids = asyncio.run(body())
    assert queue.sent == ids
    system.close()


def test_a_queued_task_is_sent_again_after_system_requeue_after(tmp_path: Path) -> None:
    from smolit.config import SystemSettings
    from smolit.tasks.manager import TaskManager
    from smolit.tasks.store import TaskStore
    from smolit.testing.clock import ManualDateClock

    system = small_system(tmp_path, system=SystemSettings(requeue_after=30))
    system.prepare()
    queue, clock = FlakyQueue(), ManualDateClock()
    queue.up = True
    store = TaskStore(system.database, clock=clock.now)
    manager = TaskManager(store, system.supervisor, system.settings, queue)

    async def body() -> list[int]:
        await manager.start()
        await manager.submit("boil an egg", ALICE)
        clock.advance(29)
        early = manager.requeue_due()  # its message may still be on its way
        clock.advance(2)
        late = manager.requeue_due()  # not the distributed default of 120 s
        await manager.stop()
        return [early, late]

    assert asyncio.run(body()) == [0, 1]
    assert len(queue.sent) == 2
    system.close()


def test_an_agent_that_caches_responses_asks_its_model_once_per_prompt(tmp_path: Path) -> None:
    from smolit.config import AgentConfig

    model = FakeModel(default="cached answer")
    agents = [
        AgentConfig(
            name="cooking",
            description="recipes cooking food kitchen",
            examples=["boil an egg", "bake bread"],
            model="fake",
            cache_responses=True,
        ),
        AgentConfig(
            name="travel",
            description="travel trips flights hotels",
            examples=["book a flight", "find a hotel"],
            model="fake",
        ),
    ]
    system = small_system(tmp_path, model, agents=agents)

    async def body(s: AgentNN) -> list[TaskView]:
        return [await submit_and_wait(s, text) for text in ("boil an egg", "boil an egg")]

    first, second = run_in(system, body)
    assert first.answer == second.answer == "cached answer"
    assert len(model.calls) == 1
    assert system.cache.stats()["caches"]["response"]["hits"] == 1


def test_agents_do_not_cache_responses_unless_they_opt_in(tmp_path: Path) -> None:
    model = FakeModel(default="fresh answer")

    async def body(s: AgentNN) -> list[TaskView]:
        return [await submit_and_wait(s, "boil an egg") for _ in range(2)]

    run_in(small_system(tmp_path, model), body)
    assert len(model.calls) == 2


def test_high_priority_from_the_python_api_needs_a_privileged_role(tmp_path: Path) -> None:
    from smolit.tasks.manager import SubmitOptions

    system = small_system(tmp_path)

    async def body(s: AgentNN) -> None:
        await s.tasks.submit("boil an egg", ALICE, SubmitOptions(priority="high"))

    with pytest.raises(PermissionDeniedError, match=r"security.privileged_roles"):
        run_in(system, body)
