"""A task resolves its agent's model once: the version checked is the version that answers."""

import asyncio
from pathlib import Path

import pytest

from smolit.agents.supervisor import Supervisor
from smolit.models.catalog import ResolvedModel
from smolit.models.manager import ModelManager
from smolit.system import AgentNN
from smolit.testing import FakeModel
from tests.unit.helpers import small_system


def counting_supervisor(
    system: AgentNN, monkeypatch: pytest.MonkeyPatch
) -> tuple[Supervisor, list[str]]:
    """A supervisor of ``system``'s agents on a model manager of its own (no cache: every
    resolution reaches the catalog), and the references its catalog resolves."""
    models = ModelManager(system.settings.models, resolve_ttl=0.0)
    models.add_instance("fake", FakeModel(responses=["Boil it."]))
    resolved: list[str] = []
    catalog_resolve = models.catalog.resolve

    def resolve(reference: str) -> ResolvedModel:
        resolved.append(reference)
        return catalog_resolve(reference)

    monkeypatch.setattr(models.catalog, "resolve", resolve)
    return Supervisor(system.agents, system.router, models, system.knowledge), resolved


def test_a_task_resolves_its_agents_model_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = small_system(tmp_path)

    async def scenario() -> list[str]:
        await system.start()
        try:
            supervisor, resolved = counting_supervisor(system, monkeypatch)
            outcome = await supervisor.handle("boil an egg")
            assert outcome.result is not None and outcome.result.answer == "Boil it."
            return resolved
        finally:
            await system.stop()

    assert asyncio.run(scenario()) == ["fake"]
