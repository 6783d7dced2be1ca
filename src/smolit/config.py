"""Settings: one YAML file plus ``SMOLIT_*`` environment overrides, validated.

This is the only module that reads the environment, and only ``load_settings`` (with
``resolve_config_path`` and ``load_client_settings``) does. Everything else receives a
``Settings`` object built once at start-up.

Precedence in ``load_settings``, highest first: explicit ``overrides``, the environment
(``SMOLIT_SYSTEM__TASK_TIMEOUT=60``), the YAML file, the defaults below; nested sections
are merged key by key. ``Settings(**values)`` never reads the environment: what it is given
and the defaults are all it holds, so a shell exporting ``SMOLIT_STORAGE`` cannot redirect
a ``Settings`` a test or a library caller builds. Unknown keys are errors that name the
key path and the file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from smolit.errors import ConfigError

CONFIG_FILE_NAME = "smolit.yaml"
DEFAULT_HOME = ".smolit"
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
#: the tool names OpenAI-compatible function calling accepts
TOOL_NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
#: an environment variable's name (secrets are read by such names)
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"

Name = Annotated[str, Field(pattern=NAME_PATTERN)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SystemSettings(Section):
    max_concurrent_tasks: int = Field(10, ge=1, le=1024)
    task_timeout: float = Field(300, gt=0, le=86_400, description="seconds")
    max_task_timeout: float = Field(
        3600, gt=0, le=86_400, description="the most a submit may ask for, seconds"
    )
    max_attempts: int = Field(3, ge=1, le=20, description="runs of a task, retries included")
    retry_backoff: float = Field(
        1.0, ge=0, le=600, description="seconds before the first retry; doubles each time"
    )
    task_lease: float = Field(
        30, ge=1, le=3600, description="seconds a worker's claim on a task lasts unrenewed"
    )
    requeue_after: float | None = Field(
        None,
        gt=0,
        le=86_400,
        description="seconds a queued task waits for its queue message before it is queued "
        "again; default 600 embedded, 120 distributed",
    )
    cache_size: int = Field(1024, ge=1, description="MB for all caches together")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["text", "json"] = Field(
        "text", description="json: one JSON object per line, with the request id"
    )
    monitor_interval: float = Field(
        5.0, gt=0, le=3600, description="seconds between resource samples"
    )
    monitor_history: int = Field(120, ge=1, le=100_000, description="resource samples kept")
    backup_keep: int = Field(7, ge=1, le=10_000, description="backups kept; older are deleted")
    backup_key_env: str | None = Field(
        None, description="environment variable holding a base64 32-byte key: encrypt backups"
    )
    backup_interval: float = Field(
        0, ge=0, description="seconds between scheduled backups by the server; 0 disables"
    )
    metrics_rollup_interval: float = Field(
        60,
        ge=0,
        le=86_400,
        description="seconds between roll-ups of finished-task counts for /metrics; "
        "0: every scrape counts the whole tasks table",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class ModelDefinition(Section):
    """One model the pool can load: which backend, and the backend's own options."""

    backend: str = Field(min_length=1)
    path: str | None = Field(None, description="file or directory; 'bundled' for SmolLM2")
    base_url: str | None = None
    model: str | None = Field(None, description="the model name the remote API expects")
    api_key_env: str | None = Field(None, description="environment variable holding the key")
    timeout: float = Field(120, gt=0)
    max_new_tokens: int = Field(256, ge=1, le=32_768)
    temperature: float = Field(0.0, ge=0, le=2)
    repetition_penalty: float = Field(1.0, ge=1, le=2, description="local backends only")
    context_length: int | None = Field(
        None, ge=256, le=1_048_576, description="context window (llamacpp); None: the model's"
    )
    threads: int | None = Field(
        None, ge=1, le=256, description="CPU threads a local backend uses; None: 1"
    )
    cost_per_1k_prompt_tokens: float = Field(0.0, ge=0, description="currency units")
    cost_per_1k_completion_tokens: float = Field(0.0, ge=0, description="currency units")
    options: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="backend-specific options (see the backend's docs)"
    )


def _default_model_definitions() -> dict[str, ModelDefinition]:
    return {"smollm2": ModelDefinition(backend="transformers", path="bundled")}


class ModelsSettings(Section):
    default_source: str = "local"
    cache_enabled: bool = True
    auto_update: bool = True
    default_model: str = "smollm2"
    max_memory_mb: int = Field(
        4096, ge=64, description="budget of the model pool; idle LRU models are unloaded"
    )
    definitions: dict[Name, ModelDefinition] = Field(default_factory=_default_model_definitions)


class KnowledgeSettings(Section):
    update_interval: int = Field(3600, ge=0, description="seconds; 0 disables")
    max_documents: int = Field(10_000, ge=1)
    embedding_model: str = "all-MiniLM-L6-v2"
    chunk_words: int = Field(160, ge=16, le=2000)
    chunk_overlap: int = Field(32, ge=0, le=1000)
    top_k: int = Field(3, ge=0, le=50)
    allowed_roots: list[str] = Field(
        default_factory=list,
        description="directories that file and directory sources may lie under; empty: the "
        "data directory and the configuration file's directory",
    )
    max_file_mb: float = Field(50, gt=0, description="largest file or URL body processed")
    max_upload_mb: float = Field(50, gt=0, description="largest document upload (request body)")
    fetch_timeout: float = Field(30, gt=0, le=3600, description="seconds per URL fetch")


class CacheShares(Section):
    """The part of ``system.cache_size`` each cache may fill; together at most 1."""

    memory: float = Field(0.25, ge=0, le=1)
    tensor: float = Field(0.25, ge=0, le=1)
    embedding: float = Field(0.25, ge=0, le=1, description="on disk, <home>/cache/embeddings")
    response: float = Field(0.25, ge=0, le=1)

    @model_validator(mode="after")
    def _at_most_whole(self) -> CacheShares:
        total = self.memory + self.tensor + self.embedding + self.response
        if total > 1 + 1e-9:
            raise ValueError(f"the shares add up to {total:g}; they must add up to at most 1")
        return self


class CacheSettings(Section):
    policy: Literal["lru", "lfu", "fifo", "ttl"] = "lru"
    cleanup_interval: int = Field(60, ge=1, description="seconds between expiry sweeps")
    default_ttl: int = Field(3600, ge=1, description="seconds an entry lives unless told")
    shares: CacheShares = Field(default_factory=CacheShares)
    redis_url: str | None = Field(
        None, description="shared tier for embeddings and responses; default: queue if Redis"
    )

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^rediss?://", value):
            raise ValueError("must be a redis:// or rediss:// URL")
        return value


class RouterSettings(Section):
    checkpoint: str = Field(
        "router@latest",
        pattern=r"^[a-z0-9][a-z0-9_-]*(@[a-z0-9_-]+)?$",
        description="registry reference of the trained router; the base encoder when none",
    )
    out_of_scope_threshold: float = Field(
        0.35, ge=-1, le=1, description="cosine threshold used until a trained router exists"
    )
    explore: bool = Field(True, description="try plausible alternatives to learn from feedback")


#: the most model calls (steps) and tool calls one agent run may make, whatever is configured
MAX_AGENT_STEPS = 100
MAX_AGENT_TOOL_CALLS = 1000


class ToolSourceConfig(Section):
    """One tool factory and its settings: ``{factory: http, settings: {...}}``."""

    factory: str = Field(min_length=1, max_length=100, description="a smolit.tools entry point")
    settings: dict[str, Any] = Field(
        default_factory=dict, description="what the factory takes (see docs/tools.md)"
    )


class ToolsSettings(Section):
    """The tools of the installation (made once at start) and the bounds of every call."""

    sources: list[ToolSourceConfig] = Field(
        default_factory=list,
        description="tool factories to load; knowledge_search and delegate are always there",
    )
    timeout_seconds: float = Field(30, gt=0, le=3600, description="the longest one call may take")
    max_result_bytes: int = Field(
        100_000, ge=1, le=100_000_000, description="the largest result a call may return"
    )
    excerpt_chars: int = Field(500, ge=0, le=100_000, description="result characters recorded")
    max_steps: int = Field(
        8, ge=1, le=MAX_AGENT_STEPS, description="model calls per agent run, unless it says"
    )
    max_tool_calls: int = Field(
        16, ge=1, le=MAX_AGENT_TOOL_CALLS, description="tool calls per agent run, unless it says"
    )


class AgentToolConfig(Section):
    """A tool an agent may call, with the agent's own bounds (within ``tools:``'s)."""

    name: str = Field(min_length=1, max_length=64, pattern=TOOL_NAME_PATTERN)
    timeout_seconds: float | None = Field(None, gt=0, le=3600)
    max_result_bytes: int | None = Field(None, ge=1, le=100_000_000)
    collections: list[Name] = Field(
        default_factory=list,
        max_length=100,
        description="knowledge_search only: collections it may read besides the agent's own",
    )

    @model_validator(mode="after")
    def _collections_for_search(self) -> AgentToolConfig:
        if self.collections and self.name != "knowledge_search":
            raise ValueError("collections are a setting of knowledge_search only")
        return self


def tool_entry(value: Any) -> Any:
    """A tool given by its name alone is ``{name: ...}``."""
    return {"name": value} if isinstance(value, str) else value


ToolChoiceSetting = Literal["auto", "router", "model"]


class AgentConfig(Section):
    name: Name
    description: str = Field(min_length=1, max_length=4000)
    examples: list[Annotated[str, Field(min_length=1, max_length=4000)]] = Field(
        default_factory=list
    )
    system_prompt: str = Field("You are a helpful assistant.", max_length=20_000)
    model: str | None = Field(None, description="model name; models.default_model when absent")
    skills: dict[
        Annotated[str, Field(min_length=1, max_length=100)],
        list[Annotated[str, Field(min_length=1, max_length=4000)]],
    ] = Field(default_factory=dict, description="skill name -> example tasks of that skill")
    knowledge_collection: Name | None = None
    knowledge_paths: list[str] = Field(
        default_factory=list, description="files or directories ingested at start"
    )
    enabled: bool = True
    cache_responses: bool = Field(
        False, description="reuse answers to identical prompts (temperature 0 only)"
    )
    tools: list[AgentToolConfig] = Field(
        default_factory=list,
        max_length=200,
        description="tools the agent may call: names, or {name, timeout_seconds, ...}",
    )
    tool_choice: ToolChoiceSetting = Field(
        "auto",
        description="auto: the tool selector's shortlist, the model decides; router: the "
        "selector's top tool is called; model: every tool is offered",
    )
    max_steps: int | None = Field(None, ge=1, le=MAX_AGENT_STEPS)
    max_tool_calls: int | None = Field(None, ge=1, le=MAX_AGENT_TOOL_CALLS)

    @field_validator("tools", mode="before")
    @classmethod
    def _tool_names(cls, value: Any) -> Any:
        return [tool_entry(item) for item in value] if isinstance(value, list) else value

    @model_validator(mode="after")
    def _unique_tools(self) -> AgentConfig:
        names = [tool.name for tool in self.tools]
        if len(set(names)) != len(names):
            raise ValueError("a tool is listed twice")
        return self


class SecretsSettings(Section):
    """Where secrets may come from: the operator's allowlist, nothing else.

    A secret is referred to by name (``api_key_env: OPENAI_API_KEY``); the name must be
    listed in ``env`` (an environment variable) or be a key of ``file`` (a YAML mapping of
    name: value, readable by the owner only). A name an API caller picks is never read
    unless it is listed here.
    """

    env: list[Annotated[str, Field(pattern=ENV_NAME_PATTERN)]] = Field(
        default_factory=list, description="environment variables that may be read as secrets"
    )
    file: str | None = Field(
        None,
        description="YAML file of name: value secrets (mode 0600); relative to the "
        "configuration file",
    )


class SecuritySettings(Section):
    token_bytes: int = Field(32, ge=16, le=128)
    token_cache_seconds: float = Field(
        5.0,
        ge=0,
        le=300,
        description="seconds a server remembers a valid token without asking the "
        "database; a token revoked by another process is refused within this time; 0: "
        "every request asks the database",
    )
    egress_allow: list[str] = Field(
        default_factory=list,
        description="hosts or CIDRs outbound requests may reach although they are loopback, "
        "private, link-local, multicast or unspecified (e.g. 'localhost', '10.0.0.0/8')",
    )
    egress_max_redirects: int = Field(5, ge=0, le=20, description="redirects followed")
    egress_max_response_mb: float = Field(
        64,
        gt=0,
        le=100_000,
        description="largest answer body any outbound request may receive (10^6 bytes); "
        "knowledge.max_file_mb caps documents further",
    )
    deployment_key_env: str | None = Field(
        None,
        description="secret name (see secrets:) of the key that authenticates values in "
        "shared caches; default: a random key kept in the database",
    )
    encryption_key_env: str | None = Field(
        None,
        description="environment variable holding a base64 32-byte key: encrypt the "
        "database (SQLCipher), uploads and indexes at rest",
    )
    encryption_key_file: str | None = Field(
        None, description="file holding that key instead (mode 0600)"
    )
    feedback_user_cap: float = Field(
        5.0,
        gt=0,
        le=1_000_000,
        description="evidence one user's feedback may add to one agent's (or skill's) "
        "estimate; more feedback from the same user is averaged within this cap",
    )
    privileged_roles: list[str] = Field(
        default_factory=lambda: ["admin"],
        description="roles that may submit priority 'high' and call registered models "
        "directly through /v1",
    )


class ServerSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65_535)
    tls_cert: str | None = Field(None, description="PEM certificate file: serve HTTPS")
    tls_key: str | None = Field(None, description="PEM private key file of tls_cert")
    max_request_bytes: int = Field(1_048_576, ge=1024)
    max_task_chars: int = Field(100_000, ge=1)


class Settings(BaseSettings):
    """All configuration of one Agent-NN installation."""

    # the names environment_values reads: SMOLIT_ + the key path joined by __
    model_config = SettingsConfigDict(
        env_prefix="SMOLIT_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_assignment=True,
    )

    home: Path = Path(DEFAULT_HOME)
    config_file: Path | None = Field(None, exclude=True)
    system: SystemSettings = Field(default_factory=SystemSettings)
    models: ModelsSettings = Field(default_factory=ModelsSettings)
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    router: RouterSettings = Field(default_factory=RouterSettings)
    agents: list[AgentConfig] = Field(default_factory=list)
    tools: ToolsSettings = Field(default_factory=ToolsSettings)
    storage: str | None = Field(
        None,
        description="database URL; SQLite in home when absent; PostgreSQL over TLS with "
        "?sslmode=verify-full&sslrootcert=FILE",
    )
    queue: str = Field("local", description="'local' or a Redis URL (rediss:// for TLS, verified)")
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    secrets: SecretsSettings = Field(default_factory=SecretsSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # only the values given: the environment is merged in by load_settings
        return (init_settings,)

    @field_validator("queue")
    @classmethod
    def _queue_url(cls, value: str) -> str:
        if value != "local" and not re.match(r"^rediss?://", value):
            raise ValueError("must be 'local' or a redis:// or rediss:// (TLS) URL")
        return value

    @model_validator(mode="after")
    def _unique_agent_names(self) -> Settings:
        seen: set[str] = set()
        for agent in self.agents:
            if agent.name in seen:
                raise ValueError(f"agent name {agent.name!r} is declared twice")
            seen.add(agent.name)
        return self

    # --- derived paths -----------------------------------------------------------------

    @property
    def database_url(self) -> str:
        return self.storage or f"sqlite:///{(self.home / 'smolit.db').resolve()}"

    @property
    def knowledge_dir(self) -> Path:
        return self.home / "indexes" / "knowledge"

    @property
    def uploads_dir(self) -> Path:
        return self.home / "uploads"

    @property
    def knowledge_roots(self) -> list[Path]:
        """Where knowledge sources may lie: ``knowledge.allowed_roots`` (relative entries
        are relative to the configuration file), else the data directory and the
        configuration file's directory."""
        base = self.config_file.parent if self.config_file else Path.cwd()
        if self.knowledge.allowed_roots:
            return [
                (base / Path(root).expanduser()).absolute() for root in self.knowledge.allowed_roots
            ]
        roots = [self.home.absolute()]
        if self.config_file is not None:
            roots.append(self.config_file.parent.absolute())
        return roots

    @property
    def models_dir(self) -> Path:
        return self.home / "models"


def _format_location(location: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in location:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(root)"


def describe_validation_error(exc: PydanticValidationError, source: str) -> ConfigError:
    """Turn a pydantic error into a ``ConfigError`` naming each key path and the file."""
    problems = []
    for error in exc.errors():
        key = _format_location(error["loc"])
        message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
        problems.append({"key": key, "message": message})
    lines = "; ".join(f"{p['key']}: {p['message']}" for p in problems)
    return ConfigError(f"{source}: {lines}", details={"file": source, "problems": problems})


def read_config_file(path: Path) -> dict[str, Any]:
    """Read a YAML configuration file into a mapping, with errors naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found", details={"file": str(path)}) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})", details={"file": str(path)}) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML ({exc})", details={"file": str(path)}) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping", details={"file": str(path)})
    for key in ("home", "config_file"):
        if key in data:
            raise ConfigError(
                f"{path}: {key}: unknown key (set SMOLIT_HOME / --config instead)",
                details={"file": str(path)},
            )
    return data


def resolve_config_path(
    config: Path | None, home: Path | None, environ: dict[str, str] | None = None
) -> tuple[Path, Path | None]:
    """Return (home, config file or None) from explicit values, then the environment."""
    env = os.environ if environ is None else environ
    home_path = home or Path(env.get("SMOLIT_HOME", DEFAULT_HOME))
    if config is not None:
        return home_path, config
    if env.get("SMOLIT_CONFIG"):
        return home_path, Path(env["SMOLIT_CONFIG"])
    default = home_path / CONFIG_FILE_NAME
    return home_path, default if default.exists() else None


def environment_values() -> dict[str, Any]:
    """The ``SMOLIT_*`` settings of the process environment, nested by ``__``.

    ``SMOLIT_HOME`` and ``SMOLIT_CONFIG`` are left out: ``resolve_config_path`` decides them.
    """
    try:
        values = EnvSettingsSource(Settings)()
    except SettingsError as exc:  # a SMOLIT_* value that should be JSON and is not
        raise ConfigError(f"environment: {exc}", details={"file": "environment"}) from exc
    return {key: value for key, value in values.items() if key not in ("home", "config_file")}


def merge_values(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``top`` laid over it; mappings on both sides are merged key by key."""
    merged = dict(base)
    for key, value in top.items():
        below = merged.get(key)
        if isinstance(below, Mapping) and isinstance(value, Mapping):
            merged[key] = merge_values(below, value)
        else:
            merged[key] = value
    return merged


def load_settings(
    config: Path | None = None,
    home: Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    """Build the one ``Settings`` object of a process.

    ``config`` and ``home`` come from command-line flags; when absent, ``SMOLIT_CONFIG``
    and ``SMOLIT_HOME`` apply, then ``<home>/smolit.yaml`` if it exists. The file's values,
    then ``SMOLIT_*`` variables, then ``overrides`` (highest) make the settings.
    """
    home_path, config_path = resolve_config_path(config, home)
    data = read_config_file(config_path) if config_path is not None else {}
    data = merge_values(merge_values(data, environment_values()), overrides or {})
    source = str(config_path) if config_path else "environment"
    try:
        settings = Settings(**data)
    except PydanticValidationError as exc:
        raise describe_validation_error(exc, source) from exc
    # home is decided here, not by the generic env source, so that --home wins
    settings.home = home_path
    settings.config_file = config_path
    return settings


def validate_config_file(path: Path) -> Settings:
    """Validate one file on its own, without environment overrides."""
    data = read_config_file(path)
    try:
        return Settings.model_validate(data)
    except PydanticValidationError as exc:
        raise describe_validation_error(exc, str(path)) from exc


class ClientSettings(BaseModel):
    """What the CLI needs to talk to a running server."""

    url: str
    token: str | None


def process_environment() -> Mapping[str, str]:
    """The process environment, for parts that resolve secrets by variable name."""
    return os.environ


def load_client_settings(url: str | None, token: str | None) -> ClientSettings:
    """Flags win; then ``SMOLIT_URL`` / ``SMOLIT_TOKEN``; then the local default."""
    return ClientSettings(
        url=(url or os.environ.get("SMOLIT_URL") or "http://127.0.0.1:8000").rstrip("/"),
        token=token or os.environ.get("SMOLIT_TOKEN") or None,
    )
