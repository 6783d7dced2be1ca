"""``ToolContext``: what a tool factory receives besides its settings.

A factory builds tools from two things: its own settings (from the configuration) and the
process's shared means of acting safely, handed down by the composition root:

- ``egress``: the ``EgressPolicy`` every outbound request of a tool must go through;
- ``secrets``: the ``SecretStore``, which gives secrets by allowlisted name only, and
  whose ``known_values`` a tool masks in everything it returns;
- ``limits``: the default ``ToolCallLimits`` of a call (a tool may take its own defaults,
  its timeout for one request for example, from them);
- ``base_dir``: the directory relative paths in tool settings are resolved against (the
  configuration file's); None: the current directory.

``ToolContext()`` is the most restrictive context: public addresses only, no secrets,
the default limits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from smolit.config import SecretsSettings, Settings
from smolit.security.egress import EgressPolicy
from smolit.security.secrets import SecretStore, operator_secrets
from smolit.tools.runner import ToolCallLimits


def _no_secrets() -> SecretStore:
    return SecretStore(SecretsSettings(), {})


@dataclass(frozen=True)
class ToolContext:
    """The egress policy, the secret store and the default limits tools are made with."""

    egress: EgressPolicy = field(default_factory=EgressPolicy)
    secrets: SecretStore = field(default_factory=_no_secrets)
    limits: ToolCallLimits = field(default_factory=ToolCallLimits)
    base_dir: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings, environ: Mapping[str, str]) -> ToolContext:
        """The context of an installation: its ``security.egress_*`` policy, the
        operator's secrets, the call bounds of ``tools:`` and the configuration file's
        directory."""
        tools = settings.tools
        return cls(
            egress=EgressPolicy.from_settings(settings.security),
            secrets=operator_secrets(settings, environ),
            limits=ToolCallLimits(
                timeout_s=tools.timeout_seconds,
                max_result_bytes=tools.max_result_bytes,
                excerpt_chars=tools.excerpt_chars,
            ),
            base_dir=settings.config_file.parent if settings.config_file else None,
        )

    def resolve_path(self, name: str) -> Path:
        """``name`` as a path: ``~`` expanded, relative ones under ``base_dir``."""
        path = Path(name).expanduser()
        if path.is_absolute():
            return path
        return (self.base_dir or Path.cwd()) / path
