"""router: agent skills, task feedback, model versions and aliases

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("skills", sa.JSON, nullable=False, server_default="{}"))
    op.create_table(
        "task_feedback",
        sa.Column("task_id", sa.String(36), primary_key=True),
        sa.Column("user", sa.String(64), nullable=False),
        sa.Column("agent", sa.String(64)),
        sa.Column("context", sa.String(200)),
        sa.Column("success", sa.Boolean),
        sa.Column("rating", sa.Integer),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_task_feedback_agent", "task_feedback", ["agent"])
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("checksum", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("source", sa.Text),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("notes", sa.Text),
        sa.Column("created_by", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("name", "version"),
    )
    op.create_index("ix_model_versions_name", "model_versions", ["name"])
    op.create_table(
        "model_aliases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("alias", sa.String(32), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("model_aliases")
    op.drop_index("ix_model_versions_name", "model_versions")
    op.drop_table("model_versions")
    op.drop_index("ix_task_feedback_agent", "task_feedback")
    op.drop_table("task_feedback")
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("skills")
