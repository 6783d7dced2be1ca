"""Builders shared by the unit tests: a small system on SQLite with test doubles."""

from __future__ import annotations

from pathlib import Path

from smolit.agents.spec import AgentSpec
from smolit.cache.signing import Signer
from smolit.config import AgentConfig, ModelDefinition, Settings
from smolit.models import ModelManager
from smolit.system import AgentNN
from smolit.testing import FakeModel, LookupEncoder


class Exploit:
    """Unpickling this creates ``marker``: proof that a stored value ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return (Path.touch, (self.marker,))


#: a deployment key for caches built outside a system
TEST_KEY = b"test deployment key, 32 bytes!!!"


def cache_signer() -> Signer:
    return Signer(TEST_KEY)


COOKING = AgentSpec(
    name="cooking",
    description="recipes cooking food kitchen",
    examples=("boil an egg", "bake bread", "roast a chicken"),
    knowledge_collection="cooking",
)
TRAVEL = AgentSpec(
    name="travel",
    description="travel trips flights hotels",
    examples=("book a flight to paris", "pack a suitcase", "find a hotel"),
)


def agent_config(spec: AgentSpec) -> AgentConfig:
    return AgentConfig(
        name=spec.name,
        description=spec.description,
        examples=list(spec.examples),
        model="fake",
        knowledge_collection=spec.knowledge_collection,
    )


def small_settings(home: Path, **overrides: object) -> Settings:
    fields: dict[str, object] = {
        "agents": [agent_config(COOKING), agent_config(TRAVEL)],
        "models": {
            "default_model": "fake",
            "definitions": {"fake": ModelDefinition(backend="fake")},
        },
        **overrides,
    }
    settings = Settings(**fields)  # type: ignore[arg-type]
    settings.home = home
    return settings


def small_system(home: Path, model: FakeModel | None = None, **overrides: object) -> AgentNN:
    settings = small_settings(home, **overrides)
    models = ModelManager(settings.models)
    models.add_instance("fake", model or FakeModel())
    return AgentNN(settings, encoder=LookupEncoder(), models=models, environ={})
