"""Knowledge re-sync: a round records each source's status, and the deployment runs it as
the ``knowledge-sync`` job (its per-interval claiming is tested with the scheduler)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from smolit.config import KnowledgeSettings
from smolit.knowledge import KnowledgeManager
from smolit.knowledge.updates import JOB_NAME, KnowledgeUpdater
from smolit.testing import LookupEncoder
from tests.unit.helpers import small_system


def make_manager(tmp_path: Path) -> KnowledgeManager:
    return KnowledgeManager(
        KnowledgeSettings.model_validate({"chunk_words": 32, "chunk_overlap": 4}),
        tmp_path / "knowledge",
        lambda: LookupEncoder(),
        allowed_roots=[tmp_path],
    )


def test_each_round_syncs_every_source_and_records_it(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("first words")
    manager = make_manager(tmp_path)
    source = manager.add_source("docs", str(docs))
    updater = KnowledgeUpdater(manager)
    assert updater.sync() == 0
    (docs / "b.txt").write_text("second words")
    assert updater.sync() == 0  # round two picks up the new file
    assert updater.rounds == 2
    record = manager.get_source(source.id)
    assert record.status == "ok" and record.documents == 2
    assert record.last_report["added"] == 1 and record.last_report["unchanged"] == 1


def test_a_round_counts_the_sources_that_failed(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    manager = make_manager(tmp_path)
    manager.add_source("docs", str(docs))
    docs.rmdir()  # the source can no longer be reached
    assert KnowledgeUpdater(manager).sync() == 1


def test_the_system_schedules_the_sync_as_a_deployment_job(tmp_path: Path) -> None:
    system = small_system(tmp_path, knowledge={"update_interval": 3600})
    assert JOB_NAME in system.scheduler.jobs

    async def scenario() -> list[str]:
        await system.start()
        await asyncio.sleep(0.5)  # the scheduler's first tick has claimed what is due
        await system.stop()
        return [job["name"] for job in system.scheduler.status() if job["runs"]]

    ran = asyncio.run(scenario())
    # the first round waits one interval: prepare() ingested the declared knowledge
    assert JOB_NAME not in ran and system.knowledge_updater.rounds == 0
    assert "cache-cleanup" in ran
    system.close()


def test_interval_zero_disables_the_sync(tmp_path: Path) -> None:
    system = small_system(tmp_path, knowledge={"update_interval": 0})
    assert JOB_NAME not in system.scheduler.jobs
    system.close()
