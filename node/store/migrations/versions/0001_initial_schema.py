"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 00:00:07.678885
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "adapters",
        sa.Column("adapter_hash", sa.String(length=66), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("parent", sa.String(length=66), nullable=True),
        sa.Column("own", sa.Boolean(), nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("adapter_hash", name=op.f("pk_adapters")),
    )
    with op.batch_alter_table("adapters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_adapters_parent"), ["parent"], unique=False)

    op.create_table(
        "event_cursors",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("block", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_event_cursors")),
    )
    op.create_table(
        "peers",
        sa.Column("peer_id", sa.String(length=128), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=True),
        sa.Column("multiaddrs", sa.JSON(), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("banned", sa.Boolean(), nullable=False),
        sa.Column("ban_reason", sa.Text(), nullable=True),
        sa.Column("first_seen", sa.Float(), nullable=False),
        sa.Column("last_seen", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("peer_id", name=op.f("pk_peers")),
    )
    with op.batch_alter_table("peers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_peers_address"), ["address"], unique=False)

    op.create_table(
        "received_rollouts",
        sa.Column("task_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("miner", sa.String(length=42), nullable=False),
        sa.Column("problem", sa.Integer(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("leaf", sa.String(length=66), nullable=True),
        sa.Column("sender_peer", sa.String(length=128), nullable=True),
        sa.Column("verified_reward", sa.BigInteger(), nullable=True),
        sa.Column("used_for_training", sa.Boolean(), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("task_id", "miner", "problem", "index", name=op.f("pk_received_rollouts")),
    )
    op.create_table(
        "tasks",
        sa.Column("task_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("proposer", sa.String(length=42), nullable=True),
        sa.Column("env_id", sa.String(length=66), nullable=True),
        sa.Column("env_name", sa.String(length=128), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("seed_round", sa.BigInteger(), nullable=True),
        sa.Column("challenge_round", sa.BigInteger(), nullable=True),
        sa.Column("seed_randomness", sa.String(length=66), nullable=True),
        sa.Column("challenge_randomness", sa.String(length=66), nullable=True),
        sa.Column("posted_block", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_tasks")),
    )
    op.create_table(
        "transactions",
        sa.Column("intent", sa.String(length=200), nullable=False),
        sa.Column("sender", sa.String(length=42), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("raw_tx", sa.LargeBinary(), nullable=True),
        sa.Column("to", sa.String(length=42), nullable=True),
        sa.Column("chain_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("intent", name=op.f("pk_transactions")),
        sa.UniqueConstraint("tx_hash", name=op.f("uq_transactions_tx_hash")),
    )
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.create_index("ix_transactions_sender_nonce", ["sender", "nonce"], unique=False)
        batch_op.create_index("ix_transactions_status", ["status"], unique=False)

    op.create_table(
        "audits",
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("miner", sa.String(length=42), nullable=False),
        sa.Column("problem", sa.Integer(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("verified_reward", sa.BigInteger(), nullable=True),
        sa.Column("positions", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.task_id"], name=op.f("fk_audits_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("task_id", "miner", "problem", "index", name=op.f("pk_audits")),
    )
    op.create_table(
        "commitments",
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("miner", sa.String(length=42), nullable=False),
        sa.Column("root", sa.String(length=66), nullable=True),
        sa.Column("count", sa.Integer(), nullable=True),
        sa.Column("adapter_hash", sa.String(length=66), nullable=True),
        sa.Column("joined_block", sa.BigInteger(), nullable=True),
        sa.Column("committed_block", sa.BigInteger(), nullable=True),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.task_id"], name=op.f("fk_commitments_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("task_id", "miner", name=op.f("pk_commitments")),
    )
    op.create_table(
        "outcomes",
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("score", sa.BigInteger(), nullable=True),
        sa.Column("paid", sa.String(length=78), nullable=False),
        sa.Column("slashed", sa.String(length=78), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.task_id"], name=op.f("fk_outcomes_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("task_id", "address", "role", name=op.f("pk_outcomes")),
    )
    op.create_table(
        "own_rollouts",
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("problem", sa.Integer(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("tokens", sa.JSON(), nullable=False),
        sa.Column("logprobs", sa.JSON(), nullable=False),
        sa.Column("completion", sa.Text(), nullable=False),
        sa.Column("claimed_reward", sa.BigInteger(), nullable=False),
        sa.Column("leaf", sa.String(length=66), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.task_id"], name=op.f("fk_own_rollouts_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("task_id", "problem", "index", name=op.f("pk_own_rollouts")),
    )
    op.create_table(
        "task_states",
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.task_id"], name=op.f("fk_task_states_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("task_id", "role", name=op.f("pk_task_states")),
    )
    with op.batch_alter_table("task_states", schema=None) as batch_op:
        batch_op.create_index("ix_task_states_role_state", ["role", "state"], unique=False)

    op.create_table(
        "task_transitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("from_state", sa.String(length=32), nullable=True),
        sa.Column("to_state", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.task_id"], name=op.f("fk_task_transitions_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_transitions")),
    )
    with op.batch_alter_table("task_transitions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_task_transitions_task_id"), ["task_id"], unique=False)

    op.create_table(
        "verdicts",
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("verdicts", sa.JSON(), nullable=False),
        sa.Column("salt", sa.String(length=66), nullable=False),
        sa.Column("verdict_hash", sa.String(length=66), nullable=False),
        sa.Column("commit_tx", sa.String(length=66), nullable=True),
        sa.Column("reveal_tx", sa.String(length=66), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.task_id"], name=op.f("fk_verdicts_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_verdicts")),
    )


def downgrade() -> None:
    op.drop_table("verdicts")
    with op.batch_alter_table("task_transitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_transitions_task_id"))

    op.drop_table("task_transitions")
    with op.batch_alter_table("task_states", schema=None) as batch_op:
        batch_op.drop_index("ix_task_states_role_state")

    op.drop_table("task_states")
    op.drop_table("own_rollouts")
    op.drop_table("outcomes")
    op.drop_table("commitments")
    op.drop_table("audits")
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.drop_index("ix_transactions_status")
        batch_op.drop_index("ix_transactions_sender_nonce")

    op.drop_table("transactions")
    op.drop_table("tasks")
    op.drop_table("received_rollouts")
    with op.batch_alter_table("peers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_peers_address"))

    op.drop_table("peers")
    op.drop_table("event_cursors")
    with op.batch_alter_table("adapters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_adapters_parent"))

    op.drop_table("adapters")
