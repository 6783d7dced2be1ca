"""The secret allowlist: only names the operator lists are ever read."""

from __future__ import annotations

from pathlib import Path

import pytest

from smolit.config import SecretsSettings
from smolit.errors import ConfigError, SecretNotAllowedError
from smolit.security.secrets import SecretStore


def test_unlisted_environment_variable_is_refused_naming_the_rule() -> None:
    store = SecretStore(SecretsSettings(), {"SMOLIT_STORAGE": "postgresql://u:pw@db/x"})
    with pytest.raises(SecretNotAllowedError) as caught:
        store.get("SMOLIT_STORAGE")
    assert "secrets.env" in caught.value.message
    assert "pw" not in caught.value.message


def test_listed_environment_variable_is_read() -> None:
    store = SecretStore(SecretsSettings(env=["OPENAI_API_KEY"]), {"OPENAI_API_KEY": "sk-1"})
    assert store.get("OPENAI_API_KEY") == "sk-1"


def test_listed_but_unset_variable_is_none() -> None:
    assert SecretStore(SecretsSettings(env=["KEY"]), {}).get("KEY") is None


def test_implicit_names_come_from_the_configuration() -> None:
    store = SecretStore(SecretsSettings(), {"BACKUP_KEY": "k" * 8}, implicit=("BACKUP_KEY",))
    assert store.get("BACKUP_KEY") == "k" * 8


def test_secrets_file_values_are_allowlisted(tmp_path: Path) -> None:
    path = tmp_path / "secrets.yaml"
    path.write_text("remote_key: abc123\n")
    path.chmod(0o600)
    store = SecretStore(SecretsSettings(file="secrets.yaml"), {}, base_dir=tmp_path)
    assert store.get("remote_key") == "abc123"
    assert store.known_values() == ["abc123"]


def test_secrets_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secrets.yaml"
    path.write_text("remote_key: abc123\n")
    path.chmod(0o644)
    store = SecretStore(SecretsSettings(file=str(path)), {})
    with pytest.raises(ConfigError, match="chmod 600"):
        store.get("remote_key")
