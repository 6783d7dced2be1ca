"""``TaskConsumer``: one delivery of a task id, and what goes back on the queue."""

from __future__ import annotations

import asyncio
from typing import Any

from smolit.tasks.consumer import TaskConsumer
from smolit.tasks.runner import RunOutcome, TaskRunner
from smolit.tasks.states import PRIORITIES, TaskStatus
from smolit.testing.clock import ManualDateClock

DOWN = RunOutcome(False, retry_in=2.0, database_down=True)
DONE = RunOutcome(True, TaskStatus.SUCCEEDED)


class ScriptedRunner(TaskRunner):
    def __init__(self, *outcomes: RunOutcome) -> None:
        self.worker = "w"
        self._outcomes = list(outcomes)
        self.runs = 0

    async def run(self, task_id: str) -> RunOutcome:
        self.runs += 1
        return self._outcomes.pop(0)


class Queue:
    def __init__(self) -> None:
        self.sent: list[tuple[str, int, float]] = []

    def put(self, task_id: str, priority: int, delay: float = 0.0) -> None:
        self.sent.append((task_id, priority, delay))


class Store:
    def load(self, task_id: str) -> Any:
        return type("View", (), {"priority": "low"})()


def consumer(runner: TaskRunner, queue: Queue, wait: float, clock: ManualDateClock) -> TaskConsumer:
    store: Any = Store()
    return TaskConsumer(runner, store, lambda: queue, database_wait=wait, pause=pause(clock))


def pause(clock: ManualDateClock) -> Any:
    async def wait(seconds: float) -> bool:
        await clock.sleep(seconds)
        return False

    return wait


def test_a_delivery_waits_in_place_while_the_database_is_down() -> None:
    runner, queue, clock = ScriptedRunner(DOWN, DOWN, DONE), Queue(), ManualDateClock()
    outcome = asyncio.run(consumer(runner, queue, 60, clock).consume("t", PRIORITIES["high"]))
    assert outcome == DONE and runner.runs == 3 and queue.sent == []
    assert clock.slept == [2.0, 2.0]


def test_a_delivery_goes_back_with_its_priority_when_the_wait_is_over() -> None:
    runner, queue, clock = ScriptedRunner(DOWN, DOWN), Queue(), ManualDateClock()
    asyncio.run(consumer(runner, queue, 2.0, clock).consume("t", PRIORITIES["high"]))
    assert queue.sent == [("t", PRIORITIES["high"], 2.0)]


def test_the_embedded_queue_takes_a_retry_back_at_once_with_the_stored_priority() -> None:
    retry = RunOutcome(True, TaskStatus.QUEUED, retry_in=1.5)
    runner, queue, clock = ScriptedRunner(retry), Queue(), ManualDateClock()
    asyncio.run(consumer(runner, queue, 0.0, clock).consume("t"))
    assert queue.sent == [("t", PRIORITIES["low"], 1.5)] and clock.slept == []


def test_a_stopping_worker_sends_a_waiting_delivery_back() -> None:
    runner, queue = ScriptedRunner(DOWN), Queue()
    store: Any = Store()
    tasks = TaskConsumer(runner, store, lambda: queue, database_wait=60)
    tasks.stopping.set()
    asyncio.run(tasks.consume("t", PRIORITIES["normal"]))
    assert queue.sent == [("t", PRIORITIES["normal"], 2.0)]
