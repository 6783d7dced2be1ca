"""durable tasks: priorities, idempotency, leases, failures, events; workers; scheduled
jobs; response caching per agent

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(
            sa.Column("cache_responses", sa.Boolean, nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("priority", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(sa.Column("idempotency_key", sa.String(200)))
        batch.add_column(sa.Column("request_hash", sa.String(64)))
        batch.add_column(sa.Column("failures", sa.JSON, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("max_attempts", sa.Integer, nullable=False, server_default="3"))
        batch.add_column(sa.Column("claimed_by", sa.String(200)))
        batch.add_column(sa.Column("claim_token", sa.String(36)))
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("not_before", sa.DateTime(timezone=True)))
        batch.add_column(
            sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("request_id", sa.String(64)))
        batch.add_column(sa.Column("usage", sa.JSON, nullable=False, server_default="{}"))
        batch.create_unique_constraint(
            "uq_tasks_submitter_idempotency", ["submitted_by", "idempotency_key"]
        )
    op.create_index("ix_tasks_status_lease", "tasks", ["status", "lease_until"])
    op.create_table(
        "task_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("worker", sa.String(200)),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("detail", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_task_events_task", "task_events", ["task_id", "id"])
    op.create_table(
        "workers",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("hostname", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("agents", sa.JSON, nullable=False),
        sa.Column("concurrency", sa.Integer, nullable=False),
        sa.Column("running", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "scheduled_jobs",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("interval_seconds", sa.Float, nullable=False),
        sa.Column("last_started_at", sa.DateTime(timezone=True)),
        sa.Column("last_finished_at", sa.DateTime(timezone=True)),
        sa.Column("last_status", sa.String(16)),
        sa.Column("last_error", sa.Text),
        sa.Column("runs", sa.Integer, nullable=False, server_default="0"),
        sa.Column("owner", sa.String(200)),
    )


def downgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("cache_responses")
    op.drop_table("scheduled_jobs")
    op.drop_table("workers")
    op.drop_index("ix_task_events_task", "task_events")
    op.drop_table("task_events")
    op.drop_index("ix_tasks_status_lease", "tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_constraint("uq_tasks_submitter_idempotency", type_="unique")
        for column in (
            "usage",
            "request_id",
            "cancel_requested",
            "not_before",
            "lease_until",
            "claim_token",
            "claimed_by",
            "max_attempts",
            "failures",
            "request_hash",
            "idempotency_key",
            "priority",
        ):
            batch.drop_column(column)
