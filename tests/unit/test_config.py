from pathlib import Path

import pytest

from smolit.config import Settings, load_settings, validate_config_file
from smolit.errors import ConfigError
from tests.unit.helpers import small_settings


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_match_the_documented_values(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path)
    assert settings.system.max_concurrent_tasks == 10
    assert settings.system.task_timeout == 300
    assert settings.system.cache_size == 1024
    assert settings.system.log_level == "INFO"
    assert (settings.models.default_source, settings.models.cache_enabled) == ("local", True)
    assert settings.models.auto_update is True
    assert settings.knowledge.update_interval == 3600
    assert settings.knowledge.max_documents == 10000
    assert settings.knowledge.embedding_model == "all-MiniLM-L6-v2"
    assert (settings.cache.policy, settings.cache.cleanup_interval) == ("lru", 60)
    assert settings.cache.default_ttl == 3600
    assert settings.queue == "local"


def test_yaml_values_are_read(tmp_path: Path) -> None:
    config = write(tmp_path / "c.yaml", "system:\n  task_timeout: 42\n")
    assert load_settings(config, tmp_path).system.task_timeout == 42


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(tmp_path / "c.yaml", "system:\n  task_timeout: 42\n")
    monkeypatch.setenv("SMOLIT_SYSTEM__TASK_TIMEOUT", "7")
    assert load_settings(config, tmp_path).system.task_timeout == 7


def test_home_defaults_to_smolit_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMOLIT_HOME", str(tmp_path / "data"))
    assert load_settings().home == tmp_path / "data"


def test_unknown_key_names_key_path_and_file(tmp_path: Path) -> None:
    config = write(tmp_path / "c.yaml", "system:\n  max_concurent_tasks: 3\n")
    with pytest.raises(ConfigError) as caught:
        validate_config_file(config)
    assert "system.max_concurent_tasks: unknown key" in caught.value.message
    assert str(config) in caught.value.message


def test_wrong_type_names_key_path(tmp_path: Path) -> None:
    config = write(tmp_path / "c.yaml", "cache:\n  default_ttl: soon\n")
    with pytest.raises(ConfigError, match=r"cache\.default_ttl"):
        validate_config_file(config)


def test_agent_field_errors_name_the_list_index(tmp_path: Path) -> None:
    config = write(
        tmp_path / "c.yaml",
        "agents:\n  - name: ok\n    description: x\n  - name: Bad Name\n    description: y\n",
    )
    with pytest.raises(ConfigError, match=r"agents\[1\]\.name"):
        validate_config_file(config)


def test_duplicate_agent_names_are_rejected(tmp_path: Path) -> None:
    config = write(
        tmp_path / "c.yaml",
        "agents:\n  - {name: a, description: x}\n  - {name: a, description: y}\n",
    )
    with pytest.raises(ConfigError, match="declared twice"):
        validate_config_file(config)


def test_invalid_yaml_is_a_config_error(tmp_path: Path) -> None:
    config = write(tmp_path / "c.yaml", "system: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        validate_config_file(config)


def test_queue_must_be_local_or_redis(tmp_path: Path) -> None:
    config = write(tmp_path / "c.yaml", "queue: amqp://x\n")
    with pytest.raises(ConfigError, match="queue"):
        validate_config_file(config)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        validate_config_file(tmp_path / "absent.yaml")


def test_demo_configuration_is_valid() -> None:
    demo = Path(__file__).parents[2] / "src" / "smolit" / "demo" / "smolit.yaml"
    settings = validate_config_file(demo)
    assert len(settings.agents) >= 5
    assert all(agent.knowledge_collection for agent in settings.agents)


def test_explicit_settings_ignore_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMOLIT_STORAGE", "postgresql://nowhere")
    monkeypatch.setenv("SMOLIT_QUEUE", "redis://nowhere")
    settings = Settings(storage="sqlite:///explicit.db")
    assert (settings.storage, settings.queue) == ("sqlite:///explicit.db", "local")


def test_test_settings_stay_on_sqlite_whatever_the_shell_exports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMOLIT_STORAGE", "postgresql://nowhere")
    assert small_settings(tmp_path).database_url.startswith("sqlite:///")


def test_overrides_beat_the_environment_and_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path / "c.yaml", "system:\n  task_timeout: 42\n  max_attempts: 2\n")
    monkeypatch.setenv("SMOLIT_SYSTEM__TASK_TIMEOUT", "7")
    settings = load_settings(config, tmp_path, overrides={"system": {"task_timeout": 9}})
    assert (settings.system.task_timeout, settings.system.max_attempts) == (9, 2)


def test_environment_merges_into_a_file_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path / "c.yaml", "system:\n  task_timeout: 42\n  max_attempts: 2\n")
    monkeypatch.setenv("SMOLIT_SYSTEM__TASK_TIMEOUT", "7")
    settings = load_settings(config, tmp_path)
    assert (settings.system.task_timeout, settings.system.max_attempts) == (7, 2)


def test_environment_that_is_not_json_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMOLIT_SYSTEM", "{not json")
    with pytest.raises(ConfigError, match="environment"):
        load_settings(home=tmp_path)
