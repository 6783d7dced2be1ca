import pytest

from smolit.errors import ConfigError
from smolit.models import BackendRegistry
from smolit.testing import FakeModel, FakeModelBackend


def test_builtin_backends_come_from_entry_points() -> None:
    assert {"transformers", "openai", "fake"} <= set(BackendRegistry().names())


def test_entry_point_name_loads_its_class() -> None:
    assert BackendRegistry().get("fake") is FakeModelBackend


def test_registered_backend_is_found_by_name() -> None:
    registry = BackendRegistry(group=None)
    registry.register("scripted", FakeModel)
    assert registry.get("scripted") is FakeModel


def test_registered_backend_wins_over_entry_point() -> None:
    registry = BackendRegistry()
    registry.register("fake", FakeModel)
    assert registry.get("fake") is FakeModel


def test_unknown_backend_lists_known_names() -> None:
    with pytest.raises(ConfigError, match=r"unknown model backend 'nope'.*fake") as info:
        BackendRegistry().get("nope")
    assert "openai" in info.value.details["known"]


def test_register_rejects_a_class_that_is_not_a_backend() -> None:
    with pytest.raises(ConfigError, match="not a ModelBackend"):
        BackendRegistry().register("bad", dict)  # type: ignore[arg-type]
