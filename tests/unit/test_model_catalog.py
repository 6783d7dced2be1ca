"""References through the registry: aliases, promotion without restart, pinning, imports."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from smolit.config import ModelDefinition, ModelsSettings
from smolit.errors import NotFoundError, ValidationError
from smolit.models import ChatMessage, GenerationParams, ModelManager
from smolit.models.catalog import LLM_KIND, parse_definition
from smolit.models.versions import ModelVersions
from smolit.storage import Database

HELLO = [ChatMessage("user", "hello")]


@pytest.fixture
def versions(tmp_path: Path) -> Iterator[ModelVersions]:
    database = Database(f"sqlite:///{tmp_path / 'smolit.db'}")
    database.migrate()
    yield ModelVersions(database, tmp_path / "models")
    database.dispose()


def manager_for(versions: ModelVersions, auto_update: bool = True) -> ModelManager:
    settings = ModelsSettings(
        default_model="echo",
        auto_update=auto_update,
        definitions={"echo": ModelDefinition(backend="fake", model="from config")},
    )
    manager = ModelManager(settings, versions=versions)
    manager.catalog.sync_config()
    return manager


def answer(manager: ModelManager, reference: str | None = None) -> str:
    return asyncio.run(manager.generate(reference, HELLO, GenerationParams())).text


def canned(text: str) -> ModelDefinition:
    return ModelDefinition(backend="fake", model=text)


def test_configured_models_are_registered_once_and_again_when_changed(
    versions: ModelVersions,
) -> None:
    manager_for(versions)
    manager_for(versions)
    assert [v.version for v in versions.list("echo")] == [1]
    settings = ModelsSettings(default_model="echo", definitions={"echo": canned("changed")})
    ModelManager(settings, versions=versions).catalog.sync_config()
    (first, second) = versions.list("echo")
    assert (first.created_by, second.params["definition"]["model"]) == ("config", "changed")


def test_results_name_the_version_that_answered(versions: ModelVersions) -> None:
    manager = manager_for(versions)
    result = asyncio.run(manager.generate("echo", HELLO))
    assert (result.text, result.model) == ("from config", "echo@1")


def test_plain_name_serves_production_else_latest(versions: ModelVersions) -> None:
    manager = manager_for(versions)
    manager.register("echo", canned("two"))
    assert answer(manager, "echo") == "two"
    manager.promote("echo", 1, "production")
    assert answer(manager, "echo") == "from config"
    assert answer(manager, "echo@2") == "two"
    assert answer(manager, "echo@latest") == "two"
    assert answer(manager, "echo@production") == "from config"


def test_promotion_switches_agents_without_restart(versions: ModelVersions) -> None:
    manager = manager_for(versions)
    manager.register("echo", canned("two"), alias="production")
    assert answer(manager, "echo@production") == "two"
    manager.register("echo", canned("three"), alias="production")
    assert answer(manager, "echo@production") == "three"
    manager.rollback("echo", "production")
    assert answer(manager, "echo@production") == "two"


def test_another_process_promotion_is_seen_after_the_cache_expires(
    versions: ModelVersions,
) -> None:
    settings = ModelsSettings(default_model="echo", definitions={"echo": canned("one")})
    serving = ModelManager(settings, versions=versions, resolve_ttl=0.0)
    serving.catalog.sync_config()
    assert answer(serving, "echo") == "one"
    other = ModelManager(settings, versions=versions)  # e.g. the CLI's process
    other.register("echo", canned("two"), alias="production")
    assert answer(serving, "echo") == "two"


def test_auto_update_off_pins_each_reference_until_restart(versions: ModelVersions) -> None:
    manager = manager_for(versions, auto_update=False)
    manager.promote("echo", 1, "production")
    assert answer(manager, "echo@production") == "from config"
    manager.register("echo", canned("two"), alias="production")
    assert answer(manager, "echo@production") == "from config"
    restarted = manager_for(versions, auto_update=False)
    assert answer(restarted, "echo@production") == "two"


def test_unknown_references_list_what_exists(versions: ModelVersions) -> None:
    manager = manager_for(versions)
    with pytest.raises(NotFoundError, match="unknown model 'nope'; known models: echo"):
        manager.resolve("nope")
    with pytest.raises(NotFoundError, match=r"no version 7 \(versions: \[1\]\)"):
        manager.resolve("echo@7")
    assert "no alias" in (manager.check("echo@staging") or "")


def test_router_checkpoints_are_not_language_models(
    versions: ModelVersions, tmp_path: Path
) -> None:
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "model.pt").write_bytes(b"x")
    versions.register_files("router", "router", tmp_path / "ckpt")
    manager = manager_for(versions)
    with pytest.raises(ValidationError, match="not a language model"):
        manager.resolve("router")
    assert "router" not in manager.names()


def test_import_copies_a_directory_and_serves_from_the_copy(
    versions: ModelVersions, tmp_path: Path
) -> None:
    source = tmp_path / "download"
    source.mkdir()
    (source / "config.json").write_text("{}")
    manager = manager_for(versions)
    version = manager.import_path("local", source, canned("imported"), notes="from disk")
    assert version.kind == LLM_KIND and version.path is not None
    assert (version.path / "config.json").exists() and version.notes == "from disk"
    assert manager.resolve("local").definition.path == str(version.path)
    assert answer(manager, "local") == "imported"


@pytest.mark.parametrize(
    "content",
    [b"not a gguf file at all", b"GGUF\x03\x00\x00\x00"],
    ids=["garbage", "truncated"],
)
def test_a_corrupt_gguf_is_refused_and_the_registry_is_unchanged(
    versions: ModelVersions, tmp_path: Path, content: bytes
) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(content)
    manager = manager_for(versions)
    with pytest.raises(ValidationError, match=r"bad.gguf"):
        manager.import_path("bad", bad, ModelDefinition(backend="transformers"))
    assert versions.list("bad") == [] and not (tmp_path / "models" / "bad").exists()


def test_import_of_a_missing_path_is_a_clear_error(versions: ModelVersions, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="does not exist"):
        manager_for(versions).import_path("x", tmp_path / "nope.gguf", canned("x"))


def test_invalid_definitions_name_the_field() -> None:
    with pytest.raises(ValidationError, match=r"definition.temperature") as caught:
        parse_definition({"backend": "fake", "temperature": 9})
    assert caught.value.details["problems"][0]["field"] == "definition.temperature"
    with pytest.raises(ValidationError, match=r"definition.colour"):
        parse_definition({"backend": "fake", "colour": "red"})


def test_registering_an_unknown_backend_is_refused(versions: ModelVersions) -> None:
    with pytest.raises(Exception, match="unknown model backend 'nope'"):
        manager_for(versions).register("x", ModelDefinition(backend="nope"))
    assert versions.list("x") == []


def test_removing_a_loaded_version_unloads_it(versions: ModelVersions) -> None:
    manager = manager_for(versions)
    manager.register("echo", canned("two"))
    answer(manager, "echo@1")
    assert manager.loaded() == ["echo@1"]
    manager.remove("echo", 1)
    assert manager.loaded() == []
    assert answer(manager, "echo") == "two"
