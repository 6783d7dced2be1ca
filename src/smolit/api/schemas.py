"""Request and response bodies. Requests forbid unknown fields: a typo is an error.

Every string a request carries is ``Text`` (or inside a ``JsonObject``): no NUL character
(PostgreSQL text cannot hold one, and paths and C libraries cut at it) and no lone UTF-16
surrogate (JSON can escape one, UTF-8 cannot encode it). Integers the database stores are
bounded by ``DB_INT_MAX`` so that no value overflows a column.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Path
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

from smolit.config import (
    MAX_AGENT_STEPS,
    MAX_AGENT_TOOL_CALLS,
    NAME_PATTERN,
    AgentToolConfig,
    ToolChoiceSetting,
    tool_entry,
)
from smolit.storage.tables import as_utc
from smolit.tasks.states import TaskStatus

T = TypeVar("T")

#: the largest integer a database INTEGER column holds everywhere (PostgreSQL: 32 bits)
DB_INT_MAX = 2**31 - 1


def plain_text(value: T) -> T:
    """``value`` unchanged, when no string in it (dict keys included) holds a NUL or a
    lone surrogate; else a ``ValueError`` that pydantic reports against the field.
    Iterative, so that no nesting the JSON parser accepts can exhaust the stack here."""
    pending: list[Any] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return value


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise ValueError("contains a NUL character (U+0000), which is not allowed")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("contains a lone UTF-16 surrogate, which is not valid Unicode") from None


Text = Annotated[str, BeforeValidator(plain_text)]
JsonObject = Annotated[dict[str, Any], BeforeValidator(plain_text)]
DbInt = Annotated[int, Field(le=DB_INT_MAX)]
#: a path parameter that names something: a task id, an agent, a model, a collection, ...
PathName = Annotated[Text, Path(min_length=1, max_length=200)]

AgentName = Annotated[Text, Field(pattern=NAME_PATTERN, description="lowercase, digits, - and _")]
Example = Annotated[Text, Field(min_length=1, max_length=4000)]
SkillName = Annotated[Text, Field(min_length=1, max_length=100)]
Skills = dict[SkillName, list[Example]]
#: a tool an agent may call: its name, or {name, timeout_seconds, max_result_bytes, collections}
ToolEntry = Annotated[AgentToolConfig, BeforeValidator(plain_text), BeforeValidator(tool_entry)]
ToolEntries = Annotated[list[ToolEntry], Field(max_length=200)]
MaxSteps = Annotated[int, Field(ge=1, le=MAX_AGENT_STEPS, description="model calls per run")]
MaxToolCalls = Annotated[
    int, Field(ge=1, le=MAX_AGENT_TOOL_CALLS, description="tool calls per run")
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskSubmit(Strict):
    text: Text = Field(description="the task in natural language", examples=["Boil an egg?"])
    priority: Literal["low", "normal", "high"] = "normal"
    timeout: float | None = Field(
        None, gt=0, description="seconds (default system.task_timeout, at most max_task_timeout)"
    )
    idempotency_key: Text | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="a retried submit with the same key gets the same task back "
        "(also accepted as the Idempotency-Key header)",
    )


#: a point in time, always with its zone in RFC 3339 (SQLite hands back naive UTC times)
Instant = Annotated[
    datetime,
    AfterValidator(as_utc),
    PlainSerializer(datetime.isoformat, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class Out(BaseModel):
    """A response body, built from the dataclass a layer below returns. A field the
    layer adds without the model naming it is an error, not a key silently dropped."""

    model_config = ConfigDict(from_attributes=True, extra="forbid")


class Open(Out):
    """A response whose parts vary (by backend, router, ...): the named fields are always
    there, others may be."""

    model_config = ConfigDict(from_attributes=True, extra="allow")


class RouteScore(Open):
    agent: str
    score: float
    available: bool


class RouteOut(Open):
    """The router's decision (``RouteDecision.to_dict``), with its extras."""

    agent: str | None
    confidence: float
    out_of_scope: bool
    router: str
    threshold: float
    reason: str
    seconds: float
    scores: list[RouteScore]


class SourceCited(Open):
    index: int
    document_id: str
    title: str
    source: str
    score: float
    excerpt: str


class AttemptFailure(Open):
    attempt: int
    error: str


class TaskToolCallOut(Open):
    """One tool call of a task (arguments with secrets masked, an excerpt of the result)."""

    seq: int
    id: str
    name: str
    arguments: dict[str, Any]
    idempotent: bool
    finished: bool = Field(
        description="false for a call that had no result when the run ended (a timeout, a crash)"
    )
    excerpt: str
    is_error: bool
    duration_s: float
    bytes: int
    note: str | None = Field(
        description="what happened instead of a call: refused, reused or not repeated after a crash"
    )


class TaskOut(Out):
    """A task as ``TaskView`` holds it; every endpoint that shows a task answers this."""

    id: str
    text: str
    status: TaskStatus
    submitted_by: str
    agent: str | None
    model: str | None
    answer: str | None
    out_of_scope: bool
    route: RouteOut | None
    sources: list[SourceCited]
    timings: dict[str, float]
    error: str | None
    attempts: int
    created_at: Instant
    started_at: Instant | None
    finished_at: Instant | None
    priority: Literal["low", "normal", "high"]
    failures: list[AttemptFailure]
    max_attempts: int
    cancel_requested: bool
    usage: dict[str, int]
    idempotency_key: str | None
    request_id: str | None
    tool_calls: list[TaskToolCallOut]


class FeedbackIn(Strict):
    success: bool | None = Field(None, description="did the answer solve the task?")
    rating: int | None = Field(None, ge=1, le=5, description="1 (useless) to 5 (perfect)")
    comment: Text | None = Field(None, max_length=2000)


class FeedbackOut(Out):
    task_id: str
    agent: str
    context: str | None
    success: bool | None
    rating: int | None
    value: float = Field(description="the outcome in [0, 1] the router learns from")


class TaskList(Out):
    tasks: list[TaskOut]
    next: str | None = Field(None, description="pass as `before` for the next page")


class AgentCreate(Strict):
    name: AgentName
    description: Text = Field(min_length=1, max_length=4000)
    examples: list[Example] = Field(default_factory=list, max_length=1000)
    skills: Skills = Field(default_factory=dict, description="skill name -> example tasks")
    system_prompt: Text = Field("You are a helpful assistant.", min_length=1, max_length=20_000)
    model: Text | None = Field(None, min_length=1, max_length=128)
    knowledge_collection: AgentName | None = None
    enabled: bool = True
    cache_responses: bool = False
    tools: ToolEntries = Field(default_factory=list, description="tools the agent may call")
    tool_choice: ToolChoiceSetting = "auto"
    max_steps: MaxSteps | None = None
    max_tool_calls: MaxToolCalls | None = None


class AgentPatch(Strict):
    description: Text | None = Field(None, min_length=1, max_length=4000)
    examples: list[Example] | None = Field(None, max_length=1000)
    skills: Skills | None = None
    system_prompt: Text | None = Field(None, min_length=1, max_length=20_000)
    model: Text | None = Field(None, min_length=1, max_length=128)
    knowledge_collection: AgentName | None = None
    enabled: bool | None = None
    cache_responses: bool | None = None
    tools: ToolEntries | None = None
    tool_choice: ToolChoiceSetting | None = None
    max_steps: MaxSteps | None = Field(None, description="null: the installation's default")
    max_tool_calls: MaxToolCalls | None = Field(
        None, description="null: the installation's default"
    )


class ToolUseOut(BaseModel):
    name: str
    timeout_seconds: float | None
    max_result_bytes: int | None
    collections: list[str]


class AgentOut(BaseModel):
    name: str
    description: str
    examples: list[str]
    skills: dict[str, list[str]]
    system_prompt: str
    model: str | None
    knowledge_collection: str | None
    enabled: bool
    origin: str
    cache_responses: bool
    tools: list[ToolUseOut]
    tool_choice: ToolChoiceSetting
    max_steps: int | None
    max_tool_calls: int | None
    available: bool
    unavailable_reason: str | None


class AgentList(BaseModel):
    agents: list[AgentOut]


class TokenCreate(Strict):
    user: Text = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")
    role: Literal["admin", "user"] = "user"
    name: Text = Field("default", min_length=1, max_length=64)


class TokenOut(BaseModel):
    id: str
    user: str
    role: str
    name: str
    token: str = Field(description="shown once; only its hash is stored")


class Health(BaseModel):
    status: Literal["ok"]
    version: str


ModelName = Annotated[Text, Field(pattern=NAME_PATTERN, description="lowercase, digits, - and _")]
Alias = Annotated[
    Text, Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$", description="e.g. production, staging")
]


class ModelRegister(Strict):
    name: ModelName
    definition: JsonObject = Field(
        description="the backend definition: backend, path | base_url + model, api_key_env, "
        "max_new_tokens, temperature, ... (see docs/models.md)",
        examples=[{"backend": "openai", "base_url": "http://localhost:8080/v1", "model": "m"}],
    )
    alias: Alias | None = Field(None, description="promote the new version to this alias")
    notes: Text | None = Field(None, max_length=2000)


class ModelImport(Strict):
    path: Text = Field(
        min_length=1, max_length=4096, description="a .gguf file or model directory on the server"
    )
    name: ModelName
    backend: Text = Field("transformers", min_length=1, max_length=64)
    definition: JsonObject = Field(
        default_factory=dict, description="more definition fields (max_new_tokens, ...)"
    )
    alias: Alias | None = None
    notes: Text | None = Field(None, max_length=2000)


class ModelPromote(Strict):
    version: DbInt = Field(ge=1)
    alias: Alias = "production"


class ModelRollback(Strict):
    alias: Alias = "production"
