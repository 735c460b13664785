"""jury rulings: a juror's committed ruling and salt survive a restart

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 15:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "jury_rulings",
        sa.Column("task_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("miner", sa.String(length=42), nullable=False),
        sa.Column("overturn", sa.Boolean(), nullable=False),
        sa.Column("score", sa.BigInteger(), nullable=False),
        sa.Column("salt", sa.String(length=66), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("task_id", "miner", name=op.f("pk_jury_rulings")),
    )


def downgrade() -> None:
    op.drop_table("jury_rulings")
