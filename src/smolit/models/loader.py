"""``BackendLoader``: model backends built from definitions, under the secret and egress
policies.

A definition may name only an allowlisted secret as its API key (``api_key_env``) and
connect only where the egress policy allows (``base_url``); the backend class comes from
the backend registry. Loading, estimating and checking never resolve a reference: they
take a ``ResolvedModel``.
"""

from __future__ import annotations

from smolit.config import ModelDefinition, SecretsSettings
from smolit.errors import (
    ConfigError,
    EgressDeniedError,
    ModelError,
    SecretNotAllowedError,
    SmolitError,
)
from smolit.models.backend_registry import BackendRegistry
from smolit.models.base import ModelBackend
from smolit.models.catalog import ResolvedModel
from smolit.security.egress import EgressPolicy
from smolit.security.secrets import SecretStore


def resolve_api_key(definition: ModelDefinition, secrets: SecretStore) -> str | None:
    """The API key named by ``definition.api_key_env``; None when the model needs none.

    Only a secret the operator listed in ``secrets:`` may be named (not one given for
    another purpose, such as the backup key): else ``SecretNotAllowedError``."""
    if not definition.api_key_env:
        return None
    value = secrets.get(definition.api_key_env, field="api_key_env", implicit=False)
    if not value:
        raise ConfigError(
            f"secret {definition.api_key_env} (api_key_env) is not set",
            details={"api_key_env": definition.api_key_env},
        )
    return value


def _no_secrets() -> SecretStore:
    return SecretStore(SecretsSettings(), {})


class BackendLoader:
    """Builds backends of ``backends`` with keys from ``secrets``, connecting through
    ``egress`` (defaults: no secrets allowed, public addresses only)."""

    def __init__(
        self,
        backends: BackendRegistry,
        secrets: SecretStore | None = None,
        egress: EgressPolicy | None = None,
    ) -> None:
        self.backends = backends
        self.secrets = secrets or _no_secrets()
        self.egress = egress or EgressPolicy()

    def check_policy(self, definition: ModelDefinition) -> None:
        """Refuse a definition whose ``api_key_env`` is not an allowlisted secret
        (``SecretNotAllowedError``) or whose ``base_url`` the egress policy refuses
        (``EgressDeniedError``)."""
        if definition.api_key_env:
            self.secrets.check(definition.api_key_env, field="api_key_env", implicit=False)
        if definition.base_url:
            self.egress.check_url(definition.base_url)

    def check_configured(self, name: str, definition: ModelDefinition) -> None:
        """``check_policy`` for the configured definition ``name``: ``ConfigError``
        naming its key."""
        try:
            self.check_policy(definition)
        except (SecretNotAllowedError, EgressDeniedError) as exc:
            field = "api_key_env" if isinstance(exc, SecretNotAllowedError) else "base_url"
            key = f"models.definitions.{name}.{field}"
            raise ConfigError(f"{key}: {exc.message}", details={"key": key}) from exc

    def problem(self, definition: ModelDefinition) -> str | None:
        """Why ``definition`` cannot be loaded, None when it can; nothing is loaded."""
        try:
            cls = self.backends.get(definition.backend)
            resolve_api_key(definition, self.secrets)
        except (ConfigError, SecretNotAllowedError) as exc:
            return exc.message
        return cls.check_definition(definition)

    def build(self, resolved: ResolvedModel) -> ModelBackend:
        """Load the backend of ``resolved``; a failure of any kind is a ``ModelError``."""
        definition = resolved.definition
        cls = self.backends.get(definition.backend)
        api_key = resolve_api_key(definition, self.secrets)
        try:
            return cls.from_definition(
                resolved.key, definition, api_key=api_key, egress=self.egress
            )
        except SmolitError:
            raise
        except Exception as exc:  # a backend may fail in any way while loading
            raise ModelError(
                f"model {resolved.key!r} could not be loaded: {type(exc).__name__}: {exc}",
                details={"model": resolved.key, "backend": definition.backend},
            ) from exc

    def estimate(self, definition: ModelDefinition) -> int:
        """The memory a load of ``definition`` will take, in bytes (0: unknown)."""
        try:
            cls = self.backends.get(definition.backend)
            return max(0, int(cls.estimate_memory_bytes(definition)))
        except SmolitError:
            return 0
