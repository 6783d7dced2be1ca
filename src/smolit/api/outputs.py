"""Response bodies of the routes beyond tasks, agents and tokens (``schemas.py``).

Each names the fields the route always answers; ``Open`` ones may carry more (a backend's
or a router's own figures), which pass through unchanged.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from smolit.api.schemas import Instant, Open, Out, SourceCited
from smolit.knowledge.records import SearchHit
from smolit.tasks.states import TaskStatus

# --- backups -----------------------------------------------------------------------------


class BackupOut(Out):
    id: str
    file: str
    size_bytes: int
    created_at: Instant
    encrypted: bool


class BackupList(Out):
    backups: list[BackupOut]


# --- cache -------------------------------------------------------------------------------


class CacheStats(Open):
    policy: str
    limit_bytes: int
    redis: dict[str, Any] | None = Field(description="the shared Redis tier; null without one")
    caches: dict[str, dict[str, Any]] = Field(
        description="per cache: hits, misses, hit rate, evictions, entries, bytes, limit"
    )


class CacheCleared(Out):
    cleared: dict[str, int] = Field(description="entries each cache held")


# --- router ------------------------------------------------------------------------------


class FeedbackEstimate(Open):
    mean: float
    evidence: float


class AgentFeedback(FeedbackEstimate):
    contexts: dict[str, FeedbackEstimate]


class RouterState(Out):
    router: str
    version: str | None
    threshold: float
    trained_labels: int
    cascade: bool
    explore: bool
    feedback: dict[str, AgentFeedback]


# --- workers and resources ---------------------------------------------------------------


class WorkerOut(Out):
    id: str
    hostname: str
    pid: int
    kind: str
    agents: list[str]
    concurrency: int
    running: int
    started_at: Instant
    heartbeat_at: Instant
    alive: bool


class JobOut(Out):
    name: str
    interval_seconds: float
    runs: int
    owner: str | None
    last_started_at: Instant | None
    last_finished_at: Instant | None
    last_status: str | None
    last_error: str | None


class WorkerList(Out):
    mode: Literal["embedded", "distributed"]
    workers: list[WorkerOut]
    jobs: list[JobOut]


class ResourceSampleOut(Open):
    at: float = Field(description="seconds since the epoch")
    host_cpu_percent: float
    host_memory_used_bytes: int
    process_memory_bytes: int
    gpus: list[dict[str, Any]]


class ResourceReport(Out):
    interval_seconds: float
    uptime_seconds: float
    current: ResourceSampleOut
    history: list[ResourceSampleOut]


# --- models ------------------------------------------------------------------------------


class ModelSummary(Out):
    name: str
    kind: str
    backend: str | None
    versions: list[int]
    latest: int | None
    aliases: dict[str, int]
    serves: int | None
    registered: bool


class ModelList(Out):
    models: list[ModelSummary]


class ModelVersionOut(Open):
    """A version's record; a language model's adds backend, loaded and performance."""

    name: str
    version: int
    key: str = Field(description="name@version")
    kind: str
    path: str | None
    checksum: str
    size_bytes: int
    source: str | None
    params: dict[str, Any]
    created_by: str | None
    created_at: Instant
    notes: str | None


class AliasMove(Out):
    alias: str
    version: int
    action: str
    undone: bool
    created_by: str | None
    created_at: Instant


class ModelDetail(Open):
    """A registered model's versions and alias history; for one outside the registry,
    its backend, definition, loaded state and performance instead."""

    name: str
    registered: bool
    versions: list[ModelVersionOut]
    aliases: dict[str, int]
    history: list[AliasMove]


class LoadedModels(Open):
    models: list[dict[str, Any]] = Field(description="memory, uses and idle time per model")
    max_memory_mb: float
    used_mb: float
    free_mb: float


class ModelRemoved(Out):
    removed: str = Field(description="name@version")


# --- knowledge ---------------------------------------------------------------------------


class CollectionOut(Out):
    name: str
    documents: int
    chunks: int
    sources: int


class KnowledgeOverview(Out):
    collections: list[CollectionOut]
    documents: int
    chunks: int
    max_documents: int


class IngestProblem(Out):
    path: str
    message: str


class SyncReport(Out):
    added: int
    updated: int
    unchanged: int
    removed: int
    errors: list[IngestProblem]
    warnings: list[IngestProblem]


class SourceOut(Out):
    id: str
    collection: str
    kind: Literal["file", "directory", "url"]
    location: str
    include: list[str]
    exclude: list[str]
    created: Instant
    status: Literal["new", "running", "ok", "error"]
    sync_started: Instant | None
    sync_finished: Instant | None
    error: str | None
    last_report: dict[str, Any] | None
    documents: int


class SourceList(Out):
    sources: list[SourceOut]


class SourceSynced(Out):
    source: SourceOut
    report: SyncReport | None = Field(description="null when it was added without a sync")


class SyncResults(Out):
    results: list[SourceSynced]


class SourceRemoved(Out):
    removed: str
    documents_removed: int


class SearchHits(Out):
    hits: list[SearchHit] = Field(description="best first")


class DocumentOut(Out):
    id: str
    collection: str
    title: str
    source: str
    source_id: str | None
    checksum: str
    chunks: int
    created: Instant
    metadata: dict[str, Any]


class DocumentList(Out):
    documents: list[DocumentOut]


class DocumentsAdded(Out):
    documents: list[DocumentOut]
    report: SyncReport


# --- /v1 (OpenAI's shapes) ---------------------------------------------------------------


class ModelObject(Out):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelObjects(Out):
    object: Literal["list"]
    data: list[ModelObject]


class FunctionCallOut(Out):
    name: str
    arguments: str = Field(description="the arguments as the JSON text the model produced")


class ToolCallOut(Out):
    id: str
    type: Literal["function"]
    function: FunctionCallOut


class AssistantMessage(Out):
    role: Literal["assistant"]
    content: str | None = Field(description="null when the model only called tools")
    tool_calls: list[ToolCallOut] | None = Field(None, description="the calls the model made")


class CompletionChoice(Out):
    index: int
    message: AssistantMessage
    finish_reason: str


class Usage(Out):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class RoutedTask(Out):
    """The task ``model: "agent-nn"`` ran, as ``GET /tasks/{id}`` names its fields."""

    task_id: str
    status: TaskStatus
    agent: str | None
    model: str | None
    out_of_scope: bool
    sources: list[SourceCited]


class ChatCompletion(Out):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage
    agent_nn: RoutedTask | None = Field(None, description='only for model "agent-nn"')
