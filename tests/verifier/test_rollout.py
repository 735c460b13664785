"""Rollout records: round trip, untrusted input validation, fixed-point rewards."""

from __future__ import annotations

import json

import pytest

from verifier.rollout import Rollout, TaskSpec, reward_to_micro, to_float32

MINER = "0x" + "AB" * 20


def good() -> Rollout:
    return Rollout(1, MINER, 0, 1, (1, 2), (3, 4), (-0.1, -2.0), 800_000, "hi")


def test_round_trip_through_json():
    r = good()
    back = Rollout.from_dict(json.loads(json.dumps(r.to_dict())))
    assert back == r and back.completion == "hi"
    assert r.miner == "0x" + "ab" * 20
    assert r.logprobs[0] == to_float32(-0.1) != -0.1


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("task_id", -1, "task_id"),
        ("p", 1 << 32, "p must"),
        ("tokens", [1, -2], "token ids"),
        ("tokens", list(range(20000)), "at most"),
        ("logprobs", ["x"], "numbers"),
        ("miner", 5, "address"),
        ("claimed_reward", True, "claimed_reward"),
        ("completion", 7, "completion"),
    ],
)
def test_malformed_input_is_a_sentence(field, value, message):
    d = good().to_dict()
    d[field] = value
    with pytest.raises(ValueError, match=message):
        Rollout.from_dict(d)


def test_missing_field_and_non_object():
    d = good().to_dict()
    del d["tokens"]
    with pytest.raises(ValueError, match="missing the field 'tokens'"):
        Rollout.from_dict(d)
    with pytest.raises(ValueError, match="JSON object"):
        Rollout.from_dict([1, 2])


def test_reward_fixed_point():
    assert reward_to_micro(0.8) == 800_000
    assert reward_to_micro(1.0) == 1_000_000
    with pytest.raises(ValueError):
        reward_to_micro(float("nan"))


def test_task_spec_rejects_unverifiable_parameters():
    with pytest.raises(ValueError, match="greedy"):
        TaskSpec(1, 1, 1, 1, 8, 0, b"\x00" * 32)
    with pytest.raises(ValueError, match="32 bytes"):
        TaskSpec(1, 1, 1, 1, 8, 700, b"\x00")
    t = TaskSpec(1, 1, 3, 4, 8, 700, b"\x00" * 32)
    assert t.total_rollouts == 12 and t.problem_and_rollout(t.rollout_index(2, 3)) == (2, 3)
