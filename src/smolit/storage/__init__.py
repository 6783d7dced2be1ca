"""Persistent state: SQLAlchemy models, sessions and Alembic migrations."""

from smolit.storage.database import Database
from smolit.storage.tables import (
    AgentRow,
    ApiTokenRow,
    Base,
    ModelAliasEventRow,
    ModelAliasRow,
    ModelVersionRow,
    TaskFeedbackRow,
    TaskRow,
)

__all__ = [
    "AgentRow",
    "ApiTokenRow",
    "Base",
    "Database",
    "ModelAliasEventRow",
    "ModelAliasRow",
    "ModelVersionRow",
    "TaskFeedbackRow",
    "TaskRow",
]
