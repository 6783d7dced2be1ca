"""``resolve_secret``: the value of a secret a tool's settings name, by allowlisted name.

Tool settings never hold a secret's value, only its name (``{secret: GITHUB_TOKEN}``);
the value comes from the context's ``SecretStore`` when the tools are made. A name the
operator has not allowlisted, or one that is allowlisted but has no value, is a
``ConfigError`` naming the setting, never the value.
"""

from __future__ import annotations

from smolit.errors import ConfigError, SecretNotAllowedError
from smolit.tools.context import ToolContext


def resolve_secret(name: str, *, field: str, context: ToolContext) -> str:
    """The value of the allowlisted secret ``name``, for the setting ``field``."""
    try:
        value = context.secrets.get(name, field=field, implicit=False)
    except SecretNotAllowedError as exc:
        raise ConfigError(exc.message, details=exc.details) from exc
    if value is None:
        raise ConfigError(
            f"{field}: secret {name!r} is allowlisted but has no value",
            details={"settings": [field], "secret": name},
        )
    return value
