"""metric roll-ups: counts of finished tasks rolled up once per interval for the
deployment, and an index on tasks.finished_at for the tasks a roll-up does not cover

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metric_rollups",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("owner", sa.String(200)),
    )
    op.create_index("ix_tasks_finished_at", "tasks", ["finished_at"])


def downgrade() -> None:
    op.drop_index("ix_tasks_finished_at", table_name="tasks")
    op.drop_table("metric_rollups")
