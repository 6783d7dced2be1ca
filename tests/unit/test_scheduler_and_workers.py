"""Deployment-wide periodic jobs and the worker registry, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from functools import partial

from smolit.storage import Database
from smolit.tasks.scheduler import JobScheduler
from smolit.tasks.worker_registry import WorkerRegistry
from smolit.testing.clock import ManualDateClock


def test_a_job_runs_once_per_interval_across_processes(database: Database) -> None:
    runs: list[str] = []
    clock = ManualDateClock()
    schedulers = [JobScheduler(database, f"process-{i}", clock=clock.now) for i in range(3)]
    for scheduler in schedulers:
        scheduler.add("cleanup", 2.0, partial(runs.append, scheduler.owner))
    for scheduler in schedulers:
        scheduler.run_due()
    assert len(runs) == 1
    clock.advance(2.05)
    for scheduler in reversed(schedulers):
        scheduler.run_due()
    assert len(runs) == 2
    (status,) = schedulers[0].status()
    assert (status["runs"], status["last_status"]) == (2, "ok")


def test_a_failing_job_is_recorded_and_others_still_run(database: Database) -> None:
    scheduler = JobScheduler(database, "p")
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("disk full")

    scheduler.add("broken", 10, broken)
    scheduler.add("fine", 10, lambda: ran.append("fine"))
    assert sorted(scheduler.run_due()) == ["broken", "fine"] and ran == ["fine"]
    errors = {s["name"]: s["last_error"] for s in scheduler.status()}
    assert errors == {"broken": "RuntimeError: disk full", "fine": None}


def test_interval_zero_disables_a_job(database: Database) -> None:
    scheduler = JobScheduler(database, "p")
    scheduler.add("never", 0, lambda: None)
    assert scheduler.run_due() == []


def test_a_job_not_run_at_start_waits_one_interval(database: Database) -> None:
    clock = ManualDateClock()
    scheduler = JobScheduler(database, "p", clock=clock.now)
    ran: list[str] = []
    scheduler.add("sync", 0.3, lambda: ran.append("sync"), run_at_start=False)
    assert scheduler.run_due() == [] and ran == []
    clock.advance(0.35)
    assert scheduler.run_due() == ["sync"] and ran == ["sync"]


def test_a_long_job_does_not_hold_up_the_others(database: Database) -> None:
    """The scheduler's loop runs each job in a thread of its own."""
    clock = ManualDateClock()
    scheduler = JobScheduler(database, "p", clock=clock.now, sleep=clock.sleep)
    release = threading.Event()
    thrice = threading.Event()
    quick_runs: list[str] = []

    def long_job() -> None:
        release.wait(30)

    def quick_job() -> None:
        quick_runs.append("quick")
        if len(quick_runs) >= 3:
            thrice.set()

    scheduler.add("long", 60, long_job)
    scheduler.add("quick", 0.2, quick_job)

    async def scenario() -> int:
        scheduler.start()
        await asyncio.to_thread(thrice.wait, 30)
        release.set()
        await scheduler.stop()
        return len(quick_runs)

    # without a thread per job, "quick" could not run again while "long" waits
    assert asyncio.run(scenario()) >= 3
    statuses = {s["name"]: s["runs"] for s in scheduler.status()}
    assert statuses["long"] == 1


def test_workers_advertise_agents_and_go_stale(database: Database) -> None:
    clock = ManualDateClock()
    registry = WorkerRegistry(database, stale_after=1.5, clock=clock.now)
    registry.heartbeat("w1", "worker", ["cooking", "travel"], concurrency=4, running=1)
    registry.heartbeat("w2", "worker", ["finance"], concurrency=4, running=0)
    assert registry.served_agents() == {"cooking", "travel", "finance"}
    clock.advance(1.6)
    registry.heartbeat("w2", "worker", ["finance"], concurrency=4, running=2)
    assert registry.served_agents() == {"finance"}
    alive = {w["id"]: w["alive"] for w in registry.list()}
    assert alive == {"w1": False, "w2": True}
    assert registry.prune(older_than=1.0) == 1
    assert [w["id"] for w in registry.list()] == ["w2"]
