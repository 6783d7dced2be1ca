"""``SecretStore``: secrets by name, only from the operator's allowlist.

A secret is read from an environment variable listed in ``secrets.env`` or from the
``secrets.file`` YAML mapping (which must not be readable by group or others). Any other
name is refused with an error that names the rule, never the value. ``known_values`` lets
log and error masking find every secret value this process could use.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Mapping
from pathlib import Path

import yaml

from smolit.config import SecretsSettings, Settings
from smolit.errors import ConfigError, SecretNotAllowedError

#: the name of the configuration keys that refer to secrets, for messages
ALLOWLIST_KEY = "secrets.env"


class SecretStore:
    """Secret values by name; names outside the allowlist are refused."""

    def __init__(
        self,
        settings: SecretsSettings,
        environ: Mapping[str, str],
        *,
        base_dir: Path | None = None,
        implicit: tuple[str, ...] = (),
    ) -> None:
        """``implicit`` names environment variables the operator's configuration names
        directly (``system.backup_key_env``, ``security.encryption_key_env``): the
        configuration file is the allowlist for those."""
        self._listed = frozenset(settings.env)
        self._env_names = self._listed | frozenset(n for n in implicit if n)
        self._environ = environ
        self._file = self._file_path(settings.file, base_dir)
        self._file_values: dict[str, str] | None = None
        self._lock = threading.Lock()

    @staticmethod
    def _file_path(name: str | None, base_dir: Path | None) -> Path | None:
        if not name:
            return None
        path = Path(name).expanduser()
        if not path.is_absolute():
            path = (base_dir or Path.cwd()) / path
        return path

    def _read_file(self) -> dict[str, str]:
        with self._lock:
            if self._file_values is not None:
                return self._file_values
            values: dict[str, str] = {}
            if self._file is not None:
                values = load_secrets_file(self._file)
            self._file_values = values
            return values

    def allowed(self, name: str, *, implicit: bool = True) -> bool:
        """Whether ``name`` is on the operator's allowlist (env names or the file's keys);
        ``implicit=False`` leaves out the names given only for their own purpose (such as
        ``system.backup_key_env``), so that a model cannot be handed the backup key."""
        names = self._env_names if implicit else self._listed
        return name in names or name in self._read_file()

    def check(self, name: str, *, field: str = "api_key_env", implicit: bool = True) -> str:
        """``name`` if it is allowlisted; otherwise a ``SecretNotAllowedError``."""
        if not self.allowed(name, implicit=implicit):
            raise SecretNotAllowedError(
                f"{field}: secret {name!r} is not allowlisted; the operator must add it to "
                f"{ALLOWLIST_KEY} (or the secrets.file) in the configuration file",
                details={"field": field, "secret": name, "rule": ALLOWLIST_KEY},
            )
        return name

    def get(self, name: str, *, field: str = "api_key_env", implicit: bool = True) -> str | None:
        """The value of an allowlisted secret; None when it is allowlisted but unset."""
        self.check(name, field=field, implicit=implicit)
        file_values = self._read_file()
        if name in file_values:
            return file_values[name]
        if name in self._env_names:
            value = self._environ.get(name)
            return value if value else None
        return None

    def known_values(self) -> list[str]:
        """Every secret value this store can hand out (for masking); short ones excluded."""
        values = [self._environ.get(name, "") for name in self._env_names]
        values.extend(self._read_file().values())
        return sorted({v for v in values if len(v) >= 4}, key=len, reverse=True)


def operator_secrets(settings: Settings, environ: Mapping[str, str]) -> SecretStore:
    """The operator's secrets: ``secrets:`` (its file relative to the configuration file)
    plus the key variables the configuration names (backup, encryption, deployment key)."""
    security = settings.security
    return SecretStore(
        settings.secrets,
        environ,
        base_dir=settings.config_file.parent if settings.config_file else None,
        implicit=tuple(
            name
            for name in (
                settings.system.backup_key_env,
                security.encryption_key_env,
                security.deployment_key_env,
            )
            if name
        ),
    )


def load_secrets_file(path: Path) -> dict[str, str]:
    """The ``name: value`` mapping in ``path``; refused when others may read it."""
    try:
        info = path.stat()
    except FileNotFoundError as exc:
        raise ConfigError(
            f"{path}: secrets file not found (secrets.file)", details={"file": str(path)}
        ) from exc
    if os.name == "posix" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path}: the secrets file must be readable by its owner only "
            f"(mode {stat.S_IMODE(info.st_mode):o}; run chmod 600 {path})",
            details={"file": str(path), "rule": "secrets.file mode 0600"},
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"{path}: cannot read the secrets file ({type(exc).__name__})",
            details={"file": str(path)},
        ) from exc
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str | int) for k, v in data.items()
    ):
        raise ConfigError(
            f"{path}: the secrets file must be a mapping of name: value strings",
            details={"file": str(path)},
        )
    return {k: str(v) for k, v in data.items()}
