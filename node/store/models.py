"""ORM tables of the node store (SQLAlchemy 2 typed declarative).

The schema is owned by the Alembic migrations in `node/store/migrations/versions`; a test checks that these
models and the migrated schema agree. Chain values keep their chain shapes: 32-byte hashes are
stored as 0x-prefixed lowercase hex, addresses as checksummed hex, uint256 amounts as decimal text
(SQLite integers stop at 2**63).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so migrations on SQLite (batch mode) and PostgreSQL name them alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def now() -> float:
    """Unix time in seconds; stored as a float so tests and logs agree without time zones."""
    return time.time()


class Hex32(TypeDecorator[str]):
    """A 32-byte value (hash, root, salt) kept as 0x + 64 lowercase hex digits; accepts bytes or hex."""

    impl = String(66)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        return to_hex32(value)

    def process_result_value(self, value: Any, dialect: Any) -> str | None:
        return value


class Uint256(TypeDecorator[int]):
    """A non-negative integer below 2**256 kept as decimal text, read back as a Python int."""

    impl = String(78)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        n = int(value)
        if n < 0 or n >= 2**256:
            raise ValueError(f"{n} is not a uint256 amount.")
        return str(n)

    def process_result_value(self, value: Any, dialect: Any) -> int | None:
        return None if value is None else int(value)


def to_hex32(value: bytes | str) -> str:
    """Normalise a 32-byte value to 0x-prefixed lowercase hex, or raise a clear ValueError."""
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
    elif isinstance(value, str):
        text = value[2:] if value.startswith(("0x", "0X")) else value
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise ValueError(f"{value!r} is not hex.") from None
    else:
        raise ValueError(f"Expected 32 bytes or hex, got {type(value).__name__}.")
    if len(raw) != 32:
        raise ValueError(f"Expected a 32-byte value, got {len(raw)} bytes.")
    return "0x" + raw.hex()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Task(Base):
    """A task as posted on chain (one row per task id, shared by every role on this node)."""

    __tablename__ = "tasks"

    task_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    proposer: Mapped[str | None] = mapped_column(String(42))
    env_id: Mapped[str | None] = mapped_column(Hex32)
    env_name: Mapped[str | None] = mapped_column(String(128))
    # Every TaskParams field as JSON (uint256 values as decimal strings), for roles and status.
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    seed_round: Mapped[int | None] = mapped_column(BigInteger)
    challenge_round: Mapped[int | None] = mapped_column(BigInteger)
    seed_randomness: Mapped[str | None] = mapped_column(Hex32)
    challenge_randomness: Mapped[str | None] = mapped_column(Hex32)
    posted_block: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[float] = mapped_column(Float, default=now)


class TaskStateRow(Base):
    """This node's state of one task for one role (see node/store/states.py)."""

    __tablename__ = "task_states"

    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.task_id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    state: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[float] = mapped_column(Float, default=now)

    __table_args__ = (Index("ix_task_states_role_state", "role", "state"),)


class TaskTransition(Base):
    """History of every state change, written in the same transaction as the change itself."""

    __tablename__ = "task_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.task_id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[float] = mapped_column(Float, default=now)


class OwnRollout(Base):
    """A rollout this node generated as a miner (kept until settled, to serve openings)."""

    __tablename__ = "own_rollouts"

    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.task_id", ondelete="CASCADE"), primary_key=True)
    problem: Mapped[int] = mapped_column(Integer, primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    tokens: Mapped[list[int]] = mapped_column(JSON)
    # Logprobs as JSON numbers: Python writes floats with repr, which round-trips exactly.
    logprobs: Mapped[list[float]] = mapped_column(JSON)
    completion: Mapped[str] = mapped_column(Text, default="")
    claimed_reward: Mapped[int] = mapped_column(BigInteger)
    leaf: Mapped[str] = mapped_column(Hex32)
    # The canonical gossip encoding of the rollout (verifier's format), if the role keeps it.
    payload: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[float] = mapped_column(Float, default=now)


class ReceivedRollout(Base):
    """A rollout received over gossip. No foreign key: gossip may arrive before the task event."""

    __tablename__ = "received_rollouts"

    task_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    miner: Mapped[str] = mapped_column(String(42), primary_key=True)
    problem: Mapped[int] = mapped_column(Integer, primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    leaf: Mapped[str | None] = mapped_column(Hex32)
    sender_peer: Mapped[str | None] = mapped_column(String(128))
    # Reward re-scored locally or by an evaluator (6 decimals); never the sender's claim.
    verified_reward: Mapped[int | None] = mapped_column(BigInteger)
    used_for_training: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[float] = mapped_column(Float, default=now)


class Commitment(Base):
    """A miner's on-chain commitment to a task (this node's own, or one seen in events)."""

    __tablename__ = "commitments"

    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.task_id", ondelete="CASCADE"), primary_key=True)
    miner: Mapped[str] = mapped_column(String(42), primary_key=True)
    root: Mapped[str | None] = mapped_column(Hex32)
    count: Mapped[int | None] = mapped_column(Integer)
    adapter_hash: Mapped[str | None] = mapped_column(Hex32)
    joined_block: Mapped[int | None] = mapped_column(BigInteger)
    committed_block: Mapped[int | None] = mapped_column(BigInteger)
    tx_hash: Mapped[str | None] = mapped_column(Hex32)


class Audit(Base):
    """The result of this validator's check of one sampled rollout."""

    __tablename__ = "audits"

    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.task_id", ondelete="CASCADE"), primary_key=True)
    miner: Mapped[str] = mapped_column(String(42), primary_key=True)
    problem: Mapped[int] = mapped_column(Integer, primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    passed: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(Text)
    verified_reward: Mapped[int | None] = mapped_column(BigInteger)
    positions: Mapped[list[int]] = mapped_column(JSON, default=list)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[float] = mapped_column(Float, default=now)


class VerdictRow(Base):
    """This validator's verdict set for a task with its commit-reveal salt.

    The salt is written before `commitVerdict` is sent and is never replaced: losing it would make
    the reveal impossible, and a different salt after a restart would not match the commitment.
    """

    __tablename__ = "verdicts"

    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.task_id", ondelete="CASCADE"), primary_key=True)
    # [{"miner": "0x..", "pass": bool, "score": int, "audited": int}, ...] in reveal order.
    verdicts: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    salt: Mapped[str] = mapped_column(Hex32)
    verdict_hash: Mapped[str] = mapped_column(Hex32)
    commit_tx: Mapped[str | None] = mapped_column(Hex32)
    reveal_tx: Mapped[str | None] = mapped_column(Hex32)
    created_at: Mapped[float] = mapped_column(Float, default=now)


class JuryRulingRow(Base):
    """This validator's ruling on one dispute it sits on (PROTOCOL.md §2.10), with its commit-reveal salt.

    Written before `commitRuling` is sent and never replaced, like a verdict's salt: a juror restarted between
    commit and reveal must reveal exactly what it committed or forfeit its bond. `stage` follows the jury duty
    (committed, revealed, done) so a restarted node resumes where it stopped.
    """

    __tablename__ = "jury_rulings"

    task_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    miner: Mapped[str] = mapped_column(String(42), primary_key=True)
    overturn: Mapped[bool] = mapped_column(Boolean)
    score: Mapped[int] = mapped_column(BigInteger)
    salt: Mapped[str] = mapped_column(Hex32)
    stage: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[float] = mapped_column(Float, default=now)
    updated_at: Mapped[float] = mapped_column(Float, default=now)


class SentTransaction(Base):
    """A transaction this node signed, keyed by its intent (e.g. "join:7"), so none is sent twice.

    The signed raw bytes are stored before broadcasting; after a crash the node rebroadcasts the
    same bytes (same nonce, same hash) or finds the receipt, instead of building a new transaction.
    """

    __tablename__ = "transactions"

    intent: Mapped[str] = mapped_column(String(200), primary_key=True)
    sender: Mapped[str] = mapped_column(String(42))
    nonce: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(Hex32, unique=True)
    raw_tx: Mapped[bytes | None] = mapped_column(LargeBinary)
    to: Mapped[str | None] = mapped_column(String(42))
    chain_id: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float, default=now)
    updated_at: Mapped[float] = mapped_column(Float, default=now)

    __table_args__ = (
        Index("ix_transactions_status", "status"),
        Index("ix_transactions_sender_nonce", "sender", "nonce"),
    )


class EventCursor(Base):
    """The last chain block whose events a follower has fully processed, per follower name."""

    __tablename__ = "event_cursors"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    block: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[float] = mapped_column(Float, default=now)


class Peer(Base):
    """A libp2p peer this node has seen, with the staked address it is bound to on chain."""

    __tablename__ = "peers"

    peer_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    address: Mapped[str | None] = mapped_column(String(42), index=True)
    multiaddrs: Mapped[list[str]] = mapped_column(JSON, default=list)
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    banned: Mapped[bool] = mapped_column(Boolean, default=False)
    ban_reason: Mapped[str | None] = mapped_column(Text)
    first_seen: Mapped[float] = mapped_column(Float, default=now)
    last_seen: Mapped[float] = mapped_column(Float, default=now)


class Adapter(Base):
    """A LoRA adapter, content-addressed by hash; `parent` is the adapter it was trained from."""

    __tablename__ = "adapters"

    adapter_hash: Mapped[str] = mapped_column(Hex32, primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    parent: Mapped[str | None] = mapped_column(Hex32, index=True)
    own: Mapped[bool] = mapped_column(Boolean, default=False)
    task_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[float] = mapped_column(Float, default=now)


class Outcome(Base):
    """A finalized task's result for one address (miner outcome, payout, slash), from chain events."""

    __tablename__ = "outcomes"

    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.task_id", ondelete="CASCADE"), primary_key=True)
    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16))
    score: Mapped[int | None] = mapped_column(BigInteger)
    paid: Mapped[int] = mapped_column(Uint256, default=0)
    slashed: Mapped[int] = mapped_column(Uint256, default=0)
    block_number: Mapped[int | None] = mapped_column(BigInteger)
