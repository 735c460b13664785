"""Audit challenges: deterministic, bound to task and miner, positions inside each rollout."""

from __future__ import annotations

import pytest

from verifier.challenge import get_challenge
from verifier.params import AuditParams


def P(m: int, k: int) -> AuditParams:
    return AuditParams(rollouts=m, positions=k)


R = b"\x42" * 32
MINER = "0x" + "ab" * 20


def test_deterministic_and_distinct():
    a = get_challenge(R, 5, MINER, 64, P(4, 8))
    assert a == get_challenge(R, 5, MINER.upper().replace("0X", "0x"), 64, P(4, 8))
    assert len(set(a.indices)) == 4 and all(0 <= i < 64 for i in a.indices)


def test_bound_to_beacon_task_and_miner():
    base = get_challenge(R, 5, MINER, 1000, P(4, 8)).indices
    assert get_challenge(b"\x43" * 32, 5, MINER, 1000, P(4, 8)).indices != base
    assert get_challenge(R, 6, MINER, 1000, P(4, 8)).indices != base
    assert get_challenge(R, 5, "0x" + "cd" * 20, 1000, P(4, 8)).indices != base


def test_positions_inside_the_rollout():
    item = get_challenge(R, 5, MINER, 64, P(4, 8)).items[0]
    for length in (1, 3, 8, 9, 100):
        pos = item.positions(length, 8)
        assert pos == sorted(set(pos)) and len(pos) == min(8, length)
        assert all(0 <= t < length for t in pos)
    assert item.positions(5, 8) == [0, 1, 2, 3, 4]


def test_audit_count_clamped_to_total():
    assert sorted(get_challenge(R, 5, MINER, 3, P(10, 2)).indices) == [0, 1, 2]


def test_bad_parameters_are_clear_errors():
    with pytest.raises(ValueError, match="32 bytes"):
        get_challenge(b"short", 5, MINER, 3, P(1, 1))
    with pytest.raises(ValueError, match="positive"):
        get_challenge(R, 5, MINER, 0, P(1, 1))
    with pytest.raises(TypeError, match="AuditParams"):
        get_challenge(R, 5, MINER, 3, 1)  # type: ignore[arg-type]


def test_k_zero_audits_every_position():
    ch = get_challenge(R, 5, MINER, 64, P(4, 0))
    assert ch.k == 0
    for length in (1, 31, 64, 257):
        assert ch.items[0].positions(length, ch.k) == list(range(length))


def test_the_sample_is_a_function_of_the_task_params_only():
    """Two validators of one task read m from the task, so they draw the same sample; a node setting
    has no way in (get_challenge takes only the task's AuditParams)."""
    task_params = AuditParams.from_mapping({"audit_rollouts": 6, "audit_positions": 0})
    a = get_challenge(R, 5, MINER, 64, task_params)
    b = get_challenge(R, 5, MINER, 64, AuditParams.from_mapping(task_params.to_mapping()))
    assert a == b and len(a.indices) == 6
    assert get_challenge(R, 5, MINER, 64, P(4, 0)).indices == a.indices[:4]  # a prefix: same PRF stream
