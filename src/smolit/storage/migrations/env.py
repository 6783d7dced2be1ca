"""Alembic environment: migrations run on the connection ``Database.migrate`` passes in."""

from __future__ import annotations

from alembic import context

from smolit.storage.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only Database.migrate runs migrations
    raise RuntimeError("run migrations through smolit.storage.Database.migrate()")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
