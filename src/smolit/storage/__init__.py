"""Persistent state: SQLAlchemy models, sessions and Alembic migrations."""

from smolit.storage.database import Database, affected
from smolit.storage.tables import (
    AgentRow,
    ApiTokenRow,
    MetricRollupRow,
    ModelAliasEventRow,
    ModelAliasRow,
    ModelVersionRow,
    ScheduledJobRow,
    TaskEventRow,
    TaskFeedbackRow,
    TaskRow,
    TaskToolCallRow,
    WorkerRow,
)

__all__ = [
    "AgentRow",
    "ApiTokenRow",
    "Database",
    "MetricRollupRow",
    "ModelAliasEventRow",
    "ModelAliasRow",
    "ModelVersionRow",
    "ScheduledJobRow",
    "TaskEventRow",
    "TaskFeedbackRow",
    "TaskRow",
    "TaskToolCallRow",
    "WorkerRow",
    "affected",
]
