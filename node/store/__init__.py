"""The node store (SQLAlchemy 2 + Alembic): tasks and their states, rollouts, commitments, audits,
verdicts, transactions sent, event cursors, peers, adapters and outcomes. See PROTOCOL.md §10."""

from node.store.database import StoreError, default_store_url
from node.store.rollouts import RolloutRecord
from node.store.states import (
    INITIAL_STATE,
    TRANSITIONS,
    EvaluatorState,
    InvalidTransition,
    MinerState,
    ProposerState,
    Role,
    ValidatorState,
    allowed_next,
    check_transition,
    is_terminal,
)
from node.store.store import Store, open_store
from node.store.transactions import StoreCursors, TxStatus

__all__ = [
    "INITIAL_STATE",
    "TRANSITIONS",
    "EvaluatorState",
    "InvalidTransition",
    "MinerState",
    "ProposerState",
    "Role",
    "RolloutRecord",
    "Store",
    "StoreCursors",
    "StoreError",
    "TxStatus",
    "ValidatorState",
    "allowed_next",
    "check_transition",
    "default_store_url",
    "is_terminal",
    "open_store",
]
