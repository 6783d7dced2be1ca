"""Agents, router reloads and model promotions made by one process reach the others."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from smolit.agents.spec import AgentSpec
from smolit.encoding.sentence import bundled_minilm_path
from smolit.routing.checkpoints import RouterCheckpoints
from smolit.routing.neural.encoder_net import MiniEncoder
from smolit.routing.neural.model import RouterModel
from smolit.storage import Database
from smolit.storage.changes import AGENTS, MODELS, ROUTER, ChangeWatcher, bump
from smolit.system import AgentNN
from smolit.testing.clock import ManualDateClock
from tests.unit.helpers import small_system

GARDENING = AgentSpec(
    name="gardening",
    description="garden plants tomatoes watering",
    examples=("water the tomatoes", "prune the roses"),
)


@pytest.fixture
def two(tmp_path: Path) -> Iterator[tuple[AgentNN, AgentNN]]:
    """Two processes of one installation (one database)."""
    first, second = small_system(tmp_path), small_system(tmp_path)
    first.prepare()
    second.prepare()
    yield first, second
    first.close()
    second.close()


def test_an_agent_added_in_one_process_is_routed_to_in_another(
    two: tuple[AgentNN, AgentNN],
) -> None:
    first, second = two
    assert "gardening" not in {a.name for a in second.agents.list()}
    first.agents.add(GARDENING)
    assert second.changes.poll() == [AGENTS]
    assert second.router.route_sync("water the tomatoes").agent == "gardening"


def test_an_agent_removed_in_one_process_is_gone_in_another(
    two: tuple[AgentNN, AgentNN],
) -> None:
    first, second = two
    first.agents.add(GARDENING)
    second.changes.poll()
    first.agents.remove("gardening")
    second.changes.poll()
    assert "gardening" not in {a.name for a in second.agents.list()}
    assert second.router.route_sync("water the tomatoes").agent != "gardening"


def test_an_agent_changed_in_one_process_is_changed_in_another(
    two: tuple[AgentNN, AgentNN],
) -> None:
    first, second = two
    first.agents.update("travel", {"description": "trains and boats"})
    second.changes.poll()
    assert second.agents.get("travel").description == "trains and boats"


def test_a_router_reload_in_one_process_reloads_the_others(
    two: tuple[AgentNN, AgentNN], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = two
    reloads: list[str] = []

    def reload_router_checkpoint() -> bool:
        reloads.append("r")
        return False

    monkeypatch.setattr(second, "load_router_checkpoint", reload_router_checkpoint)
    second.changes = ChangeWatcher(second.database, {ROUTER: second.load_router_checkpoint})
    second.changes.poll()
    first.reload_router()
    assert second.changes.poll() == [ROUTER] and reloads == ["r"]


def test_a_model_promotion_in_one_process_clears_resolved_models_in_another(
    two: tuple[AgentNN, AgentNN], tmp_path: Path
) -> None:
    first, second = two
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"model")
    first.model_versions.register_files("chat", "llm", weights)
    first.model_versions.register_files("chat", "llm", weights)
    first.model_versions.set_alias("chat", "production", 1)
    second.changes.poll()
    first.model_versions.set_alias("chat", "production", 2)
    assert second.changes.poll() == [MODELS]


def test_a_router_promotion_in_one_process_is_served_by_another(tmp_path: Path) -> None:
    first = small_system(tmp_path, router={"checkpoint": "router@production"})
    second = small_system(tmp_path, router={"checkpoint": "router@production"})
    try:
        encoder = MiniEncoder.from_pretrained(bundled_minilm_path(), layers=1, max_length=16)
        trained = RouterModel(encoder, ["cooking"], encoder.encode(["cooking"]), 20.0, 0.3)
        first.database.migrate()
        checkpoints = RouterCheckpoints(first.model_versions)
        for _ in range(2):
            checkpoints.register(trained)
        first.model_versions.set_alias("router", "production", 1)
        second.prepare()
        assert second.router.version == "router@1"
        first.model_versions.set_alias("router", "production", 2)
        second.changes.poll()
        assert second.router.version == "router@2"
    finally:
        first.close()
        second.close()


def test_a_change_is_applied_once(database: Database) -> None:
    applied: list[str] = []
    watcher = ChangeWatcher(database, {AGENTS: lambda: applied.append(AGENTS)})
    watcher.poll()
    with database.session() as session:
        bump(session, AGENTS)
    assert watcher.poll() == [AGENTS]
    assert watcher.poll() == [] and applied == [AGENTS]


def test_a_change_that_fails_to_apply_is_tried_again(database: Database) -> None:
    attempts: list[int] = []

    def flaky() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("database blip")

    watcher = ChangeWatcher(database, {MODELS: flaky})
    watcher.poll()
    with database.session() as session:
        bump(session, MODELS)
    watcher.poll()
    watcher.poll()
    assert len(attempts) == 2 and watcher.poll() == []


def test_the_watcher_polls_every_interval(database: Database) -> None:
    clock = ManualDateClock()
    applied: list[str] = []

    def apply() -> None:
        applied.append(AGENTS)

    watcher = ChangeWatcher(database, {AGENTS: apply}, interval=1.5, sleep=clock.sleep)

    async def scenario() -> None:
        loop = asyncio.create_task(watcher.run())
        while len(clock.slept) < 2:  # noqa: ASYNC110 (the clock, not time, is awaited)
            await asyncio.sleep(0)
        with database.session() as session:
            bump(session, AGENTS)
        while not applied:  # noqa: ASYNC110 (yield to the watcher, no time passes)
            await asyncio.sleep(0)
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)

    asyncio.run(scenario())
    assert applied == [AGENTS] and set(clock.slept) == {1.5}
