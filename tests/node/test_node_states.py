"""The task state machines: complete tables, the happy paths, and every illegal move refused."""

from __future__ import annotations

import pytest

from node.store.states import (
    INITIAL_STATE,
    STATES,
    TRANSITIONS,
    InvalidTransition,
    MinerState,
    Role,
    ValidatorState,
    check_transition,
    is_terminal,
)


def test_every_state_has_a_row_and_targets_are_states() -> None:
    for role, table in TRANSITIONS.items():
        assert set(table) == set(STATES[role]), role
        for targets in table.values():
            assert targets <= set(STATES[role])


def test_failed_is_reachable_from_every_non_terminal_state() -> None:
    for role, table in TRANSITIONS.items():
        failed = STATES[role]("FAILED")
        for state, targets in table.items():
            if targets:
                assert failed in targets, (role, state)


def test_every_state_is_reachable_from_the_initial_state() -> None:
    for role, table in TRANSITIONS.items():
        seen = {INITIAL_STATE[role]}
        frontier = [INITIAL_STATE[role]]
        while frontier:
            for nxt in table[frontier.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        assert seen == set(STATES[role]), role


@pytest.mark.parametrize(
    ("role", "path"),
    [
        (Role.MINER, ["SEEN", "JOINED", "SEEDED", "GENERATED", "COMMITTED", "SETTLED", "CLAIMED"]),
        (Role.VALIDATOR, ["SEEN", "CHALLENGED", "AUDITED", "VERDICT_COMMITTED", "REVEALED", "FINALIZED"]),
        (Role.PROPOSER, ["POSTED", "FINALIZED", "CLAIMED"]),
        (Role.EVALUATOR, ["SEEN", "SCORED", "DONE"]),
    ],
)
def test_happy_paths_are_allowed(role: Role, path: list[str]) -> None:
    for cur, nxt in zip(path, path[1:], strict=False):
        assert check_transition(role, cur, nxt).value == nxt
    assert is_terminal(role, path[-1])
    assert not is_terminal(role, path[0])


@pytest.mark.parametrize(
    ("role", "cur", "new"),
    [
        (Role.MINER, MinerState.SEEN, MinerState.GENERATED),  # skipping join and seed
        (Role.MINER, MinerState.SEEN, MinerState.COMMITTED),
        (Role.MINER, MinerState.COMMITTED, MinerState.JOINED),  # backwards
        (Role.MINER, MinerState.GENERATED, MinerState.SKIPPED),  # too late to skip quietly
        (Role.MINER, MinerState.FAILED, MinerState.JOINED),  # terminal
        (Role.MINER, MinerState.CLAIMED, MinerState.FAILED),
        (Role.VALIDATOR, ValidatorState.SEEN, ValidatorState.VERDICT_COMMITTED),  # verdict without audit
        (Role.VALIDATOR, ValidatorState.AUDITED, ValidatorState.REVEALED),  # reveal without commit
        (Role.VALIDATOR, ValidatorState.VERDICT_COMMITTED, ValidatorState.SKIPPED),
    ],
)
def test_illegal_moves_are_refused_with_a_sentence(role: Role, cur: object, new: object) -> None:
    with pytest.raises(InvalidTransition, match=r"cannot go from .* allowed next states"):
        check_transition(role, cur, new)  # type: ignore[arg-type]


def test_same_state_is_a_no_op_and_unknown_names_are_refused() -> None:
    assert check_transition("miner", "JOINED", "JOINED") == MinerState.JOINED
    with pytest.raises(InvalidTransition, match="is not a miner task state"):
        check_transition("miner", "SEEN", "AUDITED")
    with pytest.raises(ValueError):
        check_transition("wizard", "SEEN", "JOINED")
