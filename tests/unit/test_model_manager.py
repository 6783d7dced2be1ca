import asyncio
import threading
import time
from pathlib import Path
from typing import ClassVar

import pytest

from smolit.config import ModelDefinition, ModelsSettings, SecretsSettings
from smolit.errors import ConfigError, ConflictError, ModelError, NotFoundError, ValidationError
from smolit.models import (
    BackendRegistry,
    ChatMessage,
    GenerationParams,
    GenerationResult,
    ModelBackend,
    ModelManager,
    resolve_api_key,
)
from smolit.security.egress import EgressPolicy
from smolit.security.secrets import SecretStore
from smolit.testing import FakeModel

HELLO = [ChatMessage("user", "hello")]


class CountingBackend(ModelBackend):
    """Takes a moment to load and counts how often it was built."""

    builds = 0
    api_keys: ClassVar[list[str | None]] = []

    def __init__(self, name: str, definition: ModelDefinition) -> None:
        super().__init__(name, definition)
        type(self).builds += 1
        time.sleep(0.05)  # a slow load, so that concurrent gets overlap

    @classmethod
    def from_definition(
        cls,
        name: str,
        definition: ModelDefinition,
        *,
        api_key: str | None = None,
        egress: EgressPolicy | None = None,
    ) -> ModelBackend:
        cls.api_keys.append(api_key)
        return cls(name, definition)

    def generate(self, messages: list[ChatMessage], params: GenerationParams) -> GenerationResult:
        return GenerationResult(text=str(threading.get_ident()), model=self.name)


class BrokenBackend(ModelBackend):
    def __init__(self, name: str, definition: ModelDefinition) -> None:
        raise RuntimeError("weights are gone")

    def generate(self, messages: list[ChatMessage], params: GenerationParams) -> GenerationResult:
        raise AssertionError("never built")


def make_manager(
    environ: dict[str, str] | None = None, **definitions: ModelDefinition
) -> ModelManager:
    registry = BackendRegistry()
    registry.register("counting", CountingBackend)
    registry.register("broken", BrokenBackend)
    definitions = definitions or {"echo": ModelDefinition(backend="fake", max_new_tokens=3)}
    settings = ModelsSettings(default_model=next(iter(definitions)), definitions=definitions)
    return ModelManager(settings, secrets=key_store(environ or {}), registry=registry)


def key_store(environ: dict[str, str]) -> SecretStore:
    return SecretStore(SecretsSettings(env=["SMOLIT_TEST_KEY"]), environ)


@pytest.fixture(autouse=True)
def _reset_counting() -> None:
    CountingBackend.builds = 0
    CountingBackend.api_keys = []


def test_names_lists_definitions_and_instances() -> None:
    manager = make_manager()
    manager.add_instance("scripted", FakeModel())
    assert manager.names() == ["echo", "scripted"]


def test_unknown_model_raises_not_found_listing_names() -> None:
    with pytest.raises(NotFoundError, match="unknown model 'nope'; known models: echo"):
        make_manager().get("nope")


def test_none_resolves_to_the_default_model() -> None:
    assert make_manager().get(None).name == "echo"


def test_get_loads_once_and_keeps_the_backend() -> None:
    manager = make_manager(slow=ModelDefinition(backend="counting"))
    assert manager.get("slow") is manager.get("slow")
    assert CountingBackend.builds == 1


def test_concurrent_gets_load_once() -> None:
    manager = make_manager(slow=ModelDefinition(backend="counting"))
    barrier = threading.Barrier(8)
    found: list[ModelBackend] = []

    def worker() -> None:
        barrier.wait()
        found.append(manager.get("slow"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert CountingBackend.builds == 1
    assert len({id(b) for b in found}) == 1


def test_add_instance_is_returned_by_get() -> None:
    manager = make_manager()
    fake = FakeModel()
    manager.add_instance("echo", fake)
    assert manager.get("echo") is fake


def test_add_instance_over_a_loaded_model_conflicts() -> None:
    manager = make_manager()
    manager.get("echo")
    with pytest.raises(ConflictError):
        manager.add_instance("echo", FakeModel())


def test_add_definition_makes_a_model_available() -> None:
    manager = make_manager()
    manager.add_definition("canned", ModelDefinition(backend="fake", model="yes"))
    assert asyncio.run(manager.generate("canned", HELLO)).text == "yes"


def test_add_definition_twice_conflicts() -> None:
    with pytest.raises(ConflictError):
        make_manager().add_definition("echo", ModelDefinition(backend="fake"))


def test_replacing_a_definition_unloads_the_old_model() -> None:
    manager = make_manager()
    old = manager.get("echo")
    manager.add_definition("echo", ModelDefinition(backend="fake", model="new"), replace=True)
    assert manager.get("echo") is not old


def test_invalid_model_name_is_rejected() -> None:
    with pytest.raises(ValidationError):
        make_manager().add_definition("Bad Name", ModelDefinition(backend="fake"))


def test_definition_of_unknown_model_raises_not_found() -> None:
    with pytest.raises(NotFoundError):
        make_manager().definition("nope")


def test_generate_uses_the_definition_params_by_default() -> None:
    manager = make_manager()
    manager.add_instance("echo", FakeModel(default="one two three four five"))
    result = asyncio.run(manager.generate("echo", HELLO))
    assert (result.completion_tokens, result.finish_reason) == (3, "length")


def test_generate_runs_off_the_event_loop_thread() -> None:
    manager = make_manager(slow=ModelDefinition(backend="counting"))
    result = asyncio.run(manager.generate("slow", HELLO))
    assert result.text != str(threading.get_ident())


def test_generate_wraps_unexpected_errors_in_model_error() -> None:
    manager = make_manager()
    manager.add_instance("echo", FakeModel(fail_with=RuntimeError("boom")))
    with pytest.raises(ModelError, match="boom"):
        asyncio.run(manager.generate("echo", HELLO))


def test_generate_lets_model_error_through() -> None:
    manager = make_manager()
    error = ModelError("upstream said no", details={"status": 503})
    manager.add_instance("echo", FakeModel(fail_with=error))
    with pytest.raises(ModelError) as info:
        asyncio.run(manager.generate("echo", HELLO))
    assert info.value is error


def test_load_failure_becomes_model_error() -> None:
    manager = make_manager(bad=ModelDefinition(backend="broken"))
    with pytest.raises(ModelError, match=r"'bad' could not be loaded.*weights are gone"):
        manager.get("bad")


def test_check_accepts_a_usable_model() -> None:
    assert make_manager().check("echo") is None


def test_check_reports_an_unknown_model() -> None:
    assert "unknown model 'nope'" in (make_manager().check("nope") or "")


def test_check_reports_an_unknown_backend() -> None:
    manager = make_manager(odd=ModelDefinition(backend="nope"))
    assert "unknown model backend 'nope'" in (manager.check("odd") or "")


def test_check_reports_a_missing_local_file(tmp_path: Path) -> None:
    missing = str(tmp_path / "absent.gguf")
    manager = make_manager(local=ModelDefinition(backend="transformers", path=missing))
    assert missing in (manager.check("local") or "")


def test_check_reports_a_missing_api_key_variable() -> None:
    definition = ModelDefinition(backend="fake", api_key_env="SMOLIT_TEST_KEY")
    assert "SMOLIT_TEST_KEY" in (make_manager(remote=definition).check("remote") or "")


def test_check_does_not_load_the_model() -> None:
    manager = make_manager(slow=ModelDefinition(backend="counting"))
    manager.check("slow")
    assert manager.loaded() == []


def test_api_key_is_resolved_from_the_environ_mapping() -> None:
    definition = ModelDefinition(backend="counting", api_key_env="SMOLIT_TEST_KEY")
    manager = make_manager({"SMOLIT_TEST_KEY": "sk-1"}, remote=definition)
    manager.get("remote")
    assert CountingBackend.api_keys == ["sk-1"]


def test_resolve_api_key_is_none_without_api_key_env() -> None:
    assert resolve_api_key(ModelDefinition(backend="fake"), key_store({"X": "y"})) is None


def test_resolve_api_key_raises_config_error_when_variable_is_unset() -> None:
    with pytest.raises(ConfigError, match="SMOLIT_TEST_KEY"):
        resolve_api_key(
            ModelDefinition(backend="fake", api_key_env="SMOLIT_TEST_KEY"), key_store({})
        )


def test_loaded_lists_models_in_memory() -> None:
    manager = make_manager(
        echo=ModelDefinition(backend="fake"), slow=ModelDefinition(backend="counting")
    )
    manager.preload("echo")
    assert manager.loaded() == ["echo"]


def test_unload_closes_the_backend() -> None:
    manager = make_manager()
    fake = FakeModel()
    manager.add_instance("echo", fake)
    assert manager.unload("echo") is True
    assert fake.closed and manager.loaded() == []


def test_close_unloads_every_model() -> None:
    manager = make_manager(
        echo=ModelDefinition(backend="fake"), slow=ModelDefinition(backend="counting")
    )
    manager.preload("echo")
    manager.preload("slow")
    manager.close()
    assert manager.loaded() == []


def test_stream_yields_deltas_then_the_result_and_records_it() -> None:
    manager = make_manager()
    manager.add_instance("words", FakeModel(default="a b c"))

    async def collect() -> list[str]:
        return [e.delta async for e in manager.stream("words", HELLO, GenerationParams())]

    deltas = asyncio.run(collect())
    assert "".join(deltas).split() == ["a", "b", "c"]
    assert manager.performance("words")["streamed"] == 1


def test_a_consumer_that_stops_early_closes_the_model_stream() -> None:
    manager = make_manager()
    fake = FakeModel(default=" ".join(["word"] * 200), token_delay=0.01)
    manager.add_instance("slow", fake)

    async def first_only() -> str:
        events = manager.stream("slow", HELLO, GenerationParams(max_new_tokens=500))
        first = await anext(events)
        await events.aclose()
        return first.delta

    assert asyncio.run(first_only()).strip() == "word"
    deadline = time.monotonic() + 5
    while fake.streams_closed_early == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake.streams_closed_early == 1


def test_stream_raises_an_unknown_model_before_any_event() -> None:
    async def attempt() -> None:
        async for _ in make_manager().stream("nope", HELLO):
            pass

    with pytest.raises(NotFoundError, match="unknown model 'nope'"):
        asyncio.run(attempt())
