"""changes: a generation counter per kind of shared state (agents, router, models),
bumped with each write and polled by every process

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "changes",
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("generation", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(
        table, [{"kind": kind, "generation": 0} for kind in ("agents", "router", "models")]
    )


def downgrade() -> None:
    op.drop_table("changes")
