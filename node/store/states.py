"""Task state machines shared by the roles (PROTOCOL.md §10, "Node task state machines").

Each role keeps its own state per task, persisted in the store's `task_states` table. A state
changes only through `check_transition`, and the store writes the new state and a history row in
one database transaction, so a node killed at any point restarts in a state it really reached.

The roles implement behaviour on top of these definitions; the definitions say only what may
follow what.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """The node roles that keep per-task state. Values are stored; never rename them."""

    MINER = "miner"
    VALIDATOR = "validator"
    PROPOSER = "proposer"
    EVALUATOR = "evaluator"


class MinerState(StrEnum):
    """A miner's progress through one task.

    SEEN: the task was posted and this node knows it. JOINED: `Settlement.join` was mined with the
    adapter hash. SEEDED: the seed beacon is known, so the problems are known. GENERATED: every
    rollout is generated and stored. COMMITTED: `Settlement.commit` was mined. SETTLED: the task was
    finalized on chain (paid, slashed, unaudited or no-commit; the outcome is in `outcomes`).
    CLAIMED: the credit was withdrawn with `claim()`. SKIPPED: the node chose not to take part (or
    the task was cancelled) before committing. FAILED: the node could not finish (a deadline
    passed, a transaction reverted); the reason is kept in the history note.
    """

    SEEN = "SEEN"
    JOINED = "JOINED"
    SEEDED = "SEEDED"
    GENERATED = "GENERATED"
    COMMITTED = "COMMITTED"
    SETTLED = "SETTLED"
    CLAIMED = "CLAIMED"
    SKIPPED = "SKIPPED"
    FAILED = "FAILED"


class ValidatorState(StrEnum):
    """A validator's progress through one task.

    SEEN: the task is known. CHALLENGED: the challenge beacon is known (and recorded on chain).
    AUDITED: every audit of the sampled rollouts is stored. VERDICT_COMMITTED: the verdict, its salt
    and then the `commitVerdict` transaction are stored and mined. REVEALED: `revealVerdict` was
    mined. FINALIZED: the task was finalized on chain. SKIPPED: nothing to audit (no committed
    miner) or the node came too late, before anything was sent. FAILED: a window was missed after
    something was sent (e.g. committed but could not reveal in time).
    """

    SEEN = "SEEN"
    CHALLENGED = "CHALLENGED"
    AUDITED = "AUDITED"
    VERDICT_COMMITTED = "VERDICT_COMMITTED"
    REVEALED = "REVEALED"
    FINALIZED = "FINALIZED"
    SKIPPED = "SKIPPED"
    FAILED = "FAILED"


class ProposerState(StrEnum):
    """A proposer's own posted task: POSTED -> FINALIZED -> CLAIMED (refund), or CANCELLED."""

    POSTED = "POSTED"
    FINALIZED = "FINALIZED"
    CLAIMED = "CLAIMED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"


class EvaluatorState(StrEnum):
    """An evaluator's view of one task: SEEN -> SCORED (scores gossiped) -> DONE, or SKIPPED."""

    SEEN = "SEEN"
    SCORED = "SCORED"
    DONE = "DONE"
    SKIPPED = "SKIPPED"
    FAILED = "FAILED"


TaskState = MinerState | ValidatorState | ProposerState | EvaluatorState

STATES: dict[Role, type[StrEnum]] = {
    Role.MINER: MinerState,
    Role.VALIDATOR: ValidatorState,
    Role.PROPOSER: ProposerState,
    Role.EVALUATOR: EvaluatorState,
}

INITIAL_STATE: dict[Role, StrEnum] = {
    Role.MINER: MinerState.SEEN,
    Role.VALIDATOR: ValidatorState.SEEN,
    Role.PROPOSER: ProposerState.POSTED,
    Role.EVALUATOR: EvaluatorState.SEEN,
}

_M = MinerState
_V = ValidatorState
_P = ProposerState
_E = EvaluatorState

# Allowed transitions. FAILED is reachable from every non-terminal state (listed explicitly so the
# table is the whole truth). SKIPPED only before anything that binds the node was sent for the
# task's current step (a miner may skip after joining: that is NO_COMMIT, neither paid nor slashed).
TRANSITIONS: dict[Role, dict[StrEnum, frozenset[StrEnum]]] = {
    Role.MINER: {
        _M.SEEN: frozenset({_M.JOINED, _M.SKIPPED, _M.FAILED}),
        _M.JOINED: frozenset({_M.SEEDED, _M.SKIPPED, _M.FAILED}),
        _M.SEEDED: frozenset({_M.GENERATED, _M.SKIPPED, _M.FAILED}),
        _M.GENERATED: frozenset({_M.COMMITTED, _M.FAILED}),
        _M.COMMITTED: frozenset({_M.SETTLED, _M.FAILED}),
        _M.SETTLED: frozenset({_M.CLAIMED, _M.FAILED}),
        _M.CLAIMED: frozenset(),
        _M.SKIPPED: frozenset(),
        _M.FAILED: frozenset(),
    },
    Role.VALIDATOR: {
        _V.SEEN: frozenset({_V.CHALLENGED, _V.SKIPPED, _V.FAILED}),
        _V.CHALLENGED: frozenset({_V.AUDITED, _V.SKIPPED, _V.FAILED}),
        _V.AUDITED: frozenset({_V.VERDICT_COMMITTED, _V.SKIPPED, _V.FAILED}),
        _V.VERDICT_COMMITTED: frozenset({_V.REVEALED, _V.FAILED}),
        _V.REVEALED: frozenset({_V.FINALIZED, _V.FAILED}),
        _V.FINALIZED: frozenset(),
        _V.SKIPPED: frozenset(),
        _V.FAILED: frozenset(),
    },
    Role.PROPOSER: {
        _P.POSTED: frozenset({_P.FINALIZED, _P.CANCELLED, _P.FAILED}),
        _P.FINALIZED: frozenset({_P.CLAIMED, _P.FAILED}),
        _P.CLAIMED: frozenset(),
        _P.CANCELLED: frozenset(),
        _P.FAILED: frozenset(),
    },
    Role.EVALUATOR: {
        _E.SEEN: frozenset({_E.SCORED, _E.SKIPPED, _E.FAILED}),
        _E.SCORED: frozenset({_E.DONE, _E.FAILED}),
        _E.DONE: frozenset(),
        _E.SKIPPED: frozenset(),
        _E.FAILED: frozenset(),
    },
}


class InvalidTransition(ValueError):
    """A role tried to move a task to a state that may not follow its current one."""


def parse_state(role: Role | str, state: StrEnum | str) -> StrEnum:
    """The state enum member for `role`; a clear error for a name that is not one of its states."""
    role = Role(role)
    enum = STATES[role]
    try:
        return enum(str(state))
    except ValueError:
        valid = ", ".join(m.value for m in enum)
        raise InvalidTransition(
            f"{state!s} is not a {role.value} task state; valid states are: {valid}."
        ) from None


def is_terminal(role: Role | str, state: StrEnum | str) -> bool:
    """True when no transition leaves `state` (the task needs no more work from this role)."""
    role = Role(role)
    return not TRANSITIONS[role][parse_state(role, state)]


def allowed_next(role: Role | str, state: StrEnum | str) -> frozenset[StrEnum]:
    """The states that may follow `state` for `role`."""
    role = Role(role)
    return TRANSITIONS[role][parse_state(role, state)]


def check_transition(role: Role | str, current: StrEnum | str, new: StrEnum | str) -> StrEnum:
    """Return the parsed `new` state if `current -> new` is allowed for `role`, else raise.

    Moving to the state a task is already in is allowed and is a no-op, so a restarted role can
    replay its last step without tripping over its own earlier write.
    """
    role = Role(role)
    cur = parse_state(role, current)
    nxt = parse_state(role, new)
    if cur == nxt or nxt in TRANSITIONS[role][cur]:
        return nxt
    allowed = ", ".join(sorted(s.value for s in TRANSITIONS[role][cur])) or "none (terminal state)"
    raise InvalidTransition(
        f"A {role.value} task cannot go from {cur.value} to {nxt.value}; allowed next states: {allowed}."
    )
