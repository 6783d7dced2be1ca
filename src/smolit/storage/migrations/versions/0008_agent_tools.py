"""agent tools: the tools an agent may call and its loop bounds; each task's tool calls,
written before and after they run; task events of other kinds than a state change

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("tools", sa.JSON, nullable=False, server_default="[]"))
        batch.add_column(
            sa.Column("tool_choice", sa.String(16), nullable=False, server_default="auto")
        )
        batch.add_column(sa.Column("max_steps", sa.Integer))
        batch.add_column(sa.Column("max_tool_calls", sa.Integer))
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("tool_calls", sa.JSON, nullable=False, server_default="[]"))
    with op.batch_alter_table("task_events") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="status"))
    op.create_table(
        "task_tool_calls",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.String(36), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("call_id", sa.String(200), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("arguments", sa.JSON, nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("idempotent", sa.Boolean, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("result", sa.Text),
        sa.Column("excerpt", sa.Text),
        sa.Column("is_error", sa.Boolean, nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("duration_s", sa.Float, nullable=False),
        sa.Column("bytes", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_task_tool_calls_task", "task_tool_calls", ["task_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_task_tool_calls_task", "task_tool_calls")
    op.drop_table("task_tool_calls")
    with op.batch_alter_table("task_events") as batch:
        batch.drop_column("kind")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("tool_calls")
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("max_tool_calls")
        batch.drop_column("max_steps")
        batch.drop_column("tool_choice")
        batch.drop_column("tools")
