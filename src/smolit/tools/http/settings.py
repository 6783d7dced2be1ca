"""The settings of the ``http`` tool factory, validated (unknown keys are errors).

One ``http`` entry describes one REST API::

    base_url: https://api.github.com
    headers:
      Accept: application/vnd.github+json
      Authorization: {secret: GITHUB_TOKEN, format: "Bearer {}"}
    openapi: ./github.yaml            # optional: a file or an http(s) URL
    operations:
      - repos_get                     # an operation of the OpenAPI document, by name
      - name: list_issues             # or an operation declared in full
        description: Open issues of a repository, newest first.
        method: GET
        url: /repos/{owner}/{repo}/issues
        parameters:
          owner: {type: string, description: the account, required: true}
          repo: {type: string, required: true}
          state: {in: query, type: string, enum: [open, closed, all]}

A header value is text, or ``{secret: NAME, format: "Bearer {}"}``: the secret of that
allowlisted name put in place of ``{}``. ``settings_error`` turns a pydantic error into a
``ConfigError`` that names the setting (``operations[0].url``) and never quotes a value.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
)
from pydantic import ValidationError as PydanticValidationError

from smolit.config import ENV_NAME_PATTERN, TOOL_NAME_PATTERN
from smolit.errors import ConfigError

METHODS = ("GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE")
#: methods whose call is safe to repeat unless an operation says otherwise
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT"})
JSON_TYPES = ("string", "integer", "number", "boolean", "array", "object")
#: the union tags below, left out of the setting paths in messages
_TAGS = frozenset({"<text>", "<secret>", "<name>", "<declared>"})
#: at most this many problems are named in one message
MAX_PROBLEMS = 3


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SecretHeader(_Model):
    """A header value made from an allowlisted secret: ``format`` with ``{}`` replaced."""

    secret: str = Field(pattern=ENV_NAME_PATTERN)
    format: str = "{}"

    @field_validator("format")
    @classmethod
    def _one_placeholder(cls, value: str) -> str:
        if value.count("{}") != 1:
            raise ValueError('must contain "{}" exactly once (where the secret goes)')
        return value

    def render(self, value: str) -> str:
        return self.format.replace("{}", value)


def _header_tag(value: Any) -> str:
    return "<text>" if isinstance(value, str) else "<secret>"


HeaderValue = Annotated[
    Annotated[str, Tag("<text>")] | Annotated[SecretHeader, Tag("<secret>")],
    Discriminator(_header_tag),
]
Headers = dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")], HeaderValue]


class ParameterSettings(_Model):
    """One argument of a declared operation and where it goes in the request.

    ``in`` defaults to ``path`` for a name the URL template holds (``{owner}``) and to
    ``query`` otherwise; path parameters are always required.
    """

    location: Literal["path", "query", "header", "body"] | None = Field(None, alias="in")
    type: Literal["string", "integer", "number", "boolean", "array", "object"] = "string"
    description: str | None = None
    required: bool = False
    enum: list[Any] | None = Field(None, min_length=1)
    default: Any = None

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema of the argument."""
        schema: dict[str, Any] = {"type": self.type}
        if self.description:
            schema["description"] = self.description
        if self.enum is not None:
            schema["enum"] = list(self.enum)
        if self.default is not None:
            schema["default"] = self.default
        return schema


class OperationSettings(_Model):
    """An operation declared in full; it becomes one tool."""

    name: str = Field(pattern=TOOL_NAME_PATTERN)
    description: str = Field(min_length=1)
    examples: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    method: Literal["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"] = "GET"
    url: str = Field(min_length=1, description="absolute, or a path under base_url")
    parameters: dict[Annotated[str, Field(min_length=1)], ParameterSettings] = Field(
        default_factory=dict
    )
    headers: Headers = Field(default_factory=dict)
    idempotent: bool | None = Field(
        None, description="safe to repeat; default: true for GET, HEAD, OPTIONS and PUT"
    )

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    def is_idempotent(self) -> bool:
        return self.method in IDEMPOTENT_METHODS if self.idempotent is None else self.idempotent


def _operation_tag(value: Any) -> str:
    return "<name>" if isinstance(value, str) else "<declared>"


OperationEntry = Annotated[
    Annotated[str, Tag("<name>")] | Annotated[OperationSettings, Tag("<declared>")],
    Discriminator(_operation_tag),
]


class HttpSettings(_Model):
    """One REST API: where it is, its common headers, its operations, the call bounds."""

    base_url: str | None = Field(
        None, description="root the operations' paths are under; overrides servers[0].url"
    )
    openapi: str | None = Field(None, description="an OpenAPI 3 document: a path or a URL")
    openapi_max_bytes: int = Field(5_000_000, ge=1, le=100_000_000)
    prefix: str = Field("", pattern=r"^[a-zA-Z0-9_-]{0,32}$", description="before tool names")
    headers: Headers = Field(default_factory=dict)
    operations: list[OperationEntry] = Field(default_factory=list)
    timeout_s: float | None = Field(
        None, gt=0, le=3600, description="one request; default: the tools' call timeout"
    )
    max_response_bytes: int | None = Field(
        None, ge=1, le=1_000_000_000, description="default: the tools' result cap"
    )
    retries: int = Field(2, ge=0, le=10)
    backoff_s: float = Field(0.5, ge=0, le=60, description="before the first retry; doubles")
    max_retry_after_s: float = Field(30, ge=0, le=3600)

    def operation_names(self) -> list[str]:
        """The operations of the OpenAPI document the entries select by name."""
        return [entry for entry in self.operations if isinstance(entry, str)]

    def declared(self) -> list[tuple[int, OperationSettings]]:
        """The operations declared in full, with their index in ``operations``."""
        return [
            (index, entry)
            for index, entry in enumerate(self.operations)
            if isinstance(entry, OperationSettings)
        ]


def setting_path(location: tuple[int | str, ...]) -> str:
    """``operations[0].headers.Authorization`` for pydantic's location tuple."""
    text = ""
    for part in location:
        if part in _TAGS:
            continue
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(settings)"


def settings_error(exc: PydanticValidationError) -> ConfigError:
    """The problems of ``exc`` by setting, without the values that caused them."""
    problems = [
        f"{setting_path(tuple(error['loc']))}: {error['msg']}"
        for error in exc.errors()[:MAX_PROBLEMS]
    ]
    more = exc.error_count() - len(problems)
    if more > 0:
        problems.append(f"and {more} more")
    return ConfigError(
        f"invalid settings: {'; '.join(problems)}",
        details={"settings": [setting_path(tuple(e["loc"])) for e in exc.errors()]},
    )


def parse_settings(settings: Any) -> HttpSettings:
    """``settings`` validated; a ``ConfigError`` naming each wrong setting."""
    try:
        parsed = HttpSettings.model_validate(settings)
    except PydanticValidationError as exc:
        raise settings_error(exc) from None
    if parsed.openapi is None and parsed.operation_names():
        raise ConfigError(
            "operations: a name selects an operation of the OpenAPI document, but no "
            "openapi is given; declare the operation in full instead",
            details={"settings": ["operations"]},
        )
    if parsed.openapi is None and not parsed.operations:
        raise ConfigError(
            "give openapi (a document whose operations become tools) or operations",
            details={"settings": ["operations"]},
        )
    return parsed
