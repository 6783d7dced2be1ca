"""The background updater: a round every interval, status per source, start and stop."""

from __future__ import annotations

import asyncio
from pathlib import Path

from smolit.config import KnowledgeSettings
from smolit.knowledge import KnowledgeManager
from smolit.knowledge.updates import KnowledgeUpdater
from smolit.testing import LookupEncoder
from tests.unit.helpers import small_system

SAFETY_SECONDS = 30  # only guards against a hang; no test waits on time


class SteppedSleep:
    """A ``sleep`` that returns when the test says so, and tells when it is waiting."""

    def __init__(self) -> None:
        self.waiting = asyncio.Queue[float]()
        self.release = asyncio.Queue[None]()

    async def __call__(self, seconds: float) -> None:
        await self.waiting.put(seconds)
        await self.release.get()

    async def next_wait(self) -> float:
        return await asyncio.wait_for(self.waiting.get(), SAFETY_SECONDS)


def make_manager(tmp_path: Path) -> KnowledgeManager:
    return KnowledgeManager(
        KnowledgeSettings.model_validate({"chunk_words": 32, "chunk_overlap": 4}),
        tmp_path / "knowledge",
        lambda: LookupEncoder(),
        allowed_roots=[tmp_path],
    )


def test_each_interval_syncs_every_source_and_records_it(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("first words")
    manager = make_manager(tmp_path)
    source = manager.add_source("docs", str(docs))

    async def scenario() -> list[float]:
        sleep = SteppedSleep()
        updater = KnowledgeUpdater(manager, 60, sleep=sleep)
        updater.start()
        waits = [await sleep.next_wait()]
        await sleep.release.put(None)  # the first interval passes: round one
        waits.append(await sleep.next_wait())
        (docs / "b.txt").write_text("second words")
        await sleep.release.put(None)  # round two picks up the new file
        waits.append(await sleep.next_wait())
        await updater.stop()
        assert not updater.running and updater.rounds == 2
        return waits

    assert asyncio.run(scenario()) == [60, 60, 60]
    record = manager.get_source(source.id)
    assert record.status == "ok" and record.documents == 2
    assert record.last_report["added"] == 1 and record.last_report["unchanged"] == 1


def test_a_failing_round_does_not_stop_the_updater(tmp_path: Path) -> None:
    manager = make_manager(tmp_path)
    manager.close()  # every round now fails inside sync_all

    async def scenario() -> int:
        sleep = SteppedSleep()
        updater = KnowledgeUpdater(manager, 5, sleep=sleep)
        updater.start()
        await sleep.next_wait()
        await sleep.release.put(None)
        await sleep.next_wait()  # it came back to wait for the next round
        running = updater.running
        await updater.stop()
        assert running
        return updater.rounds

    assert asyncio.run(scenario()) == 0


def test_interval_zero_disables_the_updater(tmp_path: Path) -> None:
    async def scenario() -> bool:
        updater = KnowledgeUpdater(make_manager(tmp_path), 0)
        updater.start()
        return updater.running

    assert asyncio.run(scenario()) is False


def test_the_system_starts_and_stops_the_updater(tmp_path: Path) -> None:
    system = small_system(tmp_path, knowledge={"update_interval": 3600})

    async def scenario() -> tuple[bool, bool]:
        await system.start()
        started = system.knowledge_updater.running
        await system.stop()
        return started, system.knowledge_updater.running

    assert asyncio.run(scenario()) == (True, False)
