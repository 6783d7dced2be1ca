"""model registry: alias history for promote/rollback, 64-bit model sizes

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_alias_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("alias", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("undone", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_by", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_model_alias_events_name_alias", "model_alias_events", ["name", "alias"])
    with op.batch_alter_table("model_versions") as batch:
        batch.alter_column("size_bytes", type_=sa.BigInteger, existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.alter_column("size_bytes", type_=sa.Integer, existing_nullable=False)
    op.drop_index("ix_model_alias_events_name_alias", "model_alias_events")
    op.drop_table("model_alias_events")
