import pytest

from smolit.agents.registry import AgentRegistry
from smolit.agents.spec import AgentSpec
from smolit.errors import ConflictError, NotFoundError
from smolit.storage import Database
from tests.unit.helpers import COOKING, TRAVEL


@pytest.fixture
def registry(database_url: str) -> AgentRegistry:
    database = Database(database_url)
    database.migrate()
    return AgentRegistry(database)


def test_config_agents_are_stored(registry: AgentRegistry) -> None:
    registry.sync_from_config([COOKING, TRAVEL])
    assert [a.name for a in registry.list()] == ["cooking", "travel"]


def test_config_agent_dropped_from_file_is_removed(registry: AgentRegistry) -> None:
    registry.sync_from_config([AgentSpec(**{**COOKING.__dict__, "origin": "config"}), TRAVEL])
    registry.sync_from_config([TRAVEL])
    assert [a.name for a in registry.list()] == ["travel"]


def test_api_agent_survives_a_config_sync(registry: AgentRegistry) -> None:
    registry.add(AgentSpec(name="music", description="songs"))
    registry.sync_from_config([TRAVEL])
    assert {a.name for a in registry.list()} == {"music", "travel"}


def test_duplicate_name_conflicts(registry: AgentRegistry) -> None:
    registry.add(TRAVEL)
    with pytest.raises(ConflictError):
        registry.add(TRAVEL)


def test_update_changes_fields(registry: AgentRegistry) -> None:
    registry.add(TRAVEL)
    updated = registry.update("travel", {"enabled": False, "examples": ["x"]})
    assert (updated.enabled, updated.examples) == (False, ("x",))


def test_remove_unknown_agent_is_not_found(registry: AgentRegistry) -> None:
    with pytest.raises(NotFoundError):
        registry.remove("nobody")


def test_listeners_hear_every_change(registry: AgentRegistry) -> None:
    heard: list[list[str]] = []
    registry.subscribe(lambda agents: heard.append([a.name for a in agents]))
    registry.add(TRAVEL)
    registry.remove("travel")
    assert heard == [["travel"], []]
