"""The node store (SQLAlchemy 2 + Alembic): tasks and their states, rollouts, commitments, audits,
verdicts, transactions sent, event cursors, peers, adapters and outcomes. See PROTOCOL.md §10."""

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
from node.store.store import (
    RolloutRecord,
    Store,
    StoreCursors,
    StoreError,
    TxStatus,
    default_store_url,
    open_store,
)

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
