"""What the node roles owe the Settlement v2 contracts, checked on their building blocks.

- A forced miner's prescribed wrong commitment (honest tokens, shifted logprobs) is caught by an
  auditing validator on the logprob check alone, and becomes a FAIL vote naming LOGPROB; the same
  rollouts unshifted pass.
- A miner that serves nothing gets UNAVAILABLE (not attributable, never a slash); one that serves
  a bad token gets FAIL naming TOKEN at that rollout.
- The forced-error secret is a function of the key and the task (a restarted miner recovers it), its
  commitment is the contract's, and whether it is forced is decided exactly as on chain.
- A validator learns its seats from the chain, and before the challenge beacon is recorded there is
  no committee (None, not an error).
"""

from __future__ import annotations

import os
import types

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from bench.settlement_rules import forced_error_commit
from bench.settlement_rules import is_forced as rules_is_forced
from chain.clients import Check, Role, Vote, derive_forced_error_secret, forced_error_commitment, is_forced
from node.roles.validator import chain_verdict, verdict_record
from node.runtime.errors import RoleError
from node.runtime.settings import RoleSettings
from node.tasks.obligations import FORCED_LOGPROB_SHIFT, committee_seats, forced_error_rollouts
from verifier.challenge import get_challenge
from verifier.commitments import MerkleTree, leaf_hash
from verifier.env import Problem
from verifier.params import AuditParams
from verifier.prf import H
from verifier.rollout import TaskSpec
from verifier.sampler import prove_rollouts
from verifier.verify import verify_rollouts

torch.set_num_threads(1)
MINER = "0x" + "ab" * 20
CHALLENGE = b"\x42" * 32


class HalfEnv:
    """Every completion scores 0.5 (a non-trivial reward the checks must reproduce)."""

    name = "half"

    def generate(self, seed: bytes, n: int, difficulty: int) -> list[Problem]:
        return [Problem(i, f"Say something about {H('q', seed, i)[0]}.", "") for i in range(n)]

    def messages(self, problem: Problem) -> list[dict[str, str]]:
        return [{"role": "user", "content": problem.question}]

    def score(self, problem: Problem, completion: str) -> float:
        return 0.5


@pytest.fixture(scope="module")
def setup():
    from verifier.models import tiny_model

    model, tok = tiny_model(seed=0)
    task = TaskSpec(
        task_id=11,
        difficulty=1,
        num_problems=2,
        rollouts_per_problem=4,
        max_tokens=10,
        temperature_milli=700,
        seed_randomness=H("seed", 11),
        audit=AuditParams(rollouts=3),
    )
    env = HalfEnv()
    return model, tok, env, task, prove_rollouts(model, tok, env, task, MINER, batch_size=8)


def audit(setup, rollouts, served=True):
    model, tok, env, task, _ = setup
    tree = MerkleTree.of_rollouts(rollouts)
    ch = get_challenge(CHALLENGE, task.task_id, MINER, task.total_rollouts, task.audit)
    picked = [rollouts[i] if served else None for i in ch.indices]
    proofs = [tree.proof(leaf_hash(rollouts[i])) if served else None for i in ch.indices]
    return ch, verify_rollouts(model, tok, env, task, tree.root, picked, proofs, ch)


def test_forced_commitment_is_caught_on_logprobs_only(setup):
    honest = setup[4]
    forced = forced_error_rollouts(honest)
    for h, f in zip(honest, forced, strict=True):
        assert f.tokens == h.tokens and f.claimed_reward == h.claimed_reward
        assert all(
            abs(b - a - FORCED_LOGPROB_SHIFT) < 1e-6 for a, b in zip(h.logprobs, f.logprobs, strict=True)
        )
        assert leaf_hash(f) != leaf_hash(h)
    _, ok = audit(setup, honest)
    assert ok.passed
    assert verdict_record(MINER, ok)["vote"] == Vote.PASS
    ch, caught = audit(setup, forced)
    assert not caught.passed and caught.failed_checks() == {"logprob"}
    record = verdict_record(MINER, caught)
    verdict = chain_verdict(record)
    assert verdict.vote == Vote.FAIL and verdict.check == Check.LOGPROB
    assert verdict.rollout_index in ch.indices
    assert verdict.score == ok.score  # the tokens are honest: FORCED pays on this score


def test_forced_shift_is_caught_at_every_tolerance_the_chain_accepts(setup, chain_for):
    """TaskBoard bounds logprobTolNano to [MIN, MAX]; the forced error's shift is at least twice the
    maximum, so even the loosest task a proposer may post catches it, and the tightest passes honest work."""
    import dataclasses

    board = chain_for(0).board
    lo, hi = int(board.view("MIN_LOGPROB_TOL_NANO")), int(board.view("MAX_LOGPROB_TOL_NANO"))
    assert FORCED_LOGPROB_SHIFT * 1e9 >= 2 * hi > 0
    honest = setup[4]
    forced = forced_error_rollouts(honest)
    for tol, commitment, passes in ((hi, forced, False), (lo, honest, True)):
        task = dataclasses.replace(setup[3], audit=dataclasses.replace(setup[3].audit, logprob_tol_nano=tol))
        _, result = audit((*setup[:3], task, honest), commitment)
        assert result.passed is passes, tol
        if not passes:
            assert result.failed_checks() == {"logprob"}


def test_withheld_openings_are_unavailable_and_a_bad_token_is_a_token_fail(setup):
    _, none_served = audit(setup, setup[4], served=False)
    assert none_served.failed_checks() == {"missing"}
    assert chain_verdict(verdict_record(MINER, none_served)).vote == Vote.UNAVAILABLE
    tampered = list(setup[4])
    ch = get_challenge(CHALLENGE, setup[3].task_id, MINER, setup[3].total_rollouts, setup[3].audit)
    victim = tampered[ch.indices[0]]
    tokens = list(victim.tokens)
    tokens[0] = (tokens[0] + 1) % 1000 + 5
    import dataclasses

    tampered[ch.indices[0]] = dataclasses.replace(victim, tokens=tuple(tokens))
    _, bad = audit(setup, tampered)
    verdict = chain_verdict(verdict_record(MINER, bad))
    assert verdict.vote == Vote.FAIL and verdict.check == Check.TOKEN
    assert verdict.rollout_index == ch.indices[0]


def test_every_failing_check_has_its_evidence_code():
    """Each check verifier.verify can fail (but `missing`, which is UNAVAILABLE) has its own
    evidence code and rank; a wrong adapter is MODEL evidence, ranked after the per-token checks."""
    from node.roles.validator import CHECK_CODES, EVIDENCE_ORDER
    from verifier.verify import CHECKS, Failure, Verdict

    assert set(CHECK_CODES) == set(EVIDENCE_ORDER) == set(CHECKS) - {"missing"}
    wrong_adapter = Verdict(
        passed=False,
        score=0,
        audited=2,
        failures=[Failure(3, "policy", "adapter"), Failure(5, "policy", "adapter")],
    )
    verdict = chain_verdict(verdict_record(MINER, wrong_adapter))
    assert verdict.vote == Vote.FAIL and verdict.check == Check.MODEL and verdict.rollout_index == 3
    both = Verdict(
        passed=False, score=0, audited=2, failures=[Failure(1, "length", ""), Failure(4, "policy", "")]
    )
    assert chain_verdict(verdict_record(MINER, both)).check == Check.MODEL


def test_forced_error_secret_commitment_and_draw_match_the_contract_rules():
    key = b"\x07" * 32
    a, b = derive_forced_error_secret(key, 5), derive_forced_error_secret(key, 5)
    assert (
        a == b
        and a != derive_forced_error_secret(key, 6)
        and a != derive_forced_error_secret(b"\x08" * 32, 5)
    )
    assert forced_error_commitment(5, MINER, a) == forced_error_commit(5, MINER, a)
    seeds = [H("seed", i) for i in range(400)]
    draws = [is_forced(a, s, 4) for s in seeds]
    assert draws == [rules_is_forced(a, s, 4) for s in seeds]
    assert 60 < sum(draws) < 140  # about one in four


def test_misbehave_setting_is_checked(tmp_path):
    base = {
        "role": "validator",
        "data_dir": tmp_path,
        "rpc_url": "x",
        "deployment": tmp_path,
        "keystore": tmp_path,
    }
    assert RoleSettings.from_mapping({**base, "misbehave": "lazy"}).misbehave == "lazy"
    with pytest.raises(RoleError, match="misbehave"):
        RoleSettings.from_mapping({**base, "misbehave": "sloppy"})


def test_committee_seats_come_from_the_chain(chain_for, clock, task_params, devnet_beacon):
    proposer, validator = chain_for(0), chain_for(5)
    validator.stakes.stake(Role.VALIDATOR, 500 * 10**18)
    chain_for(6).stakes.stake(Role.VALIDATOR, 500 * 10**18)
    miner = chain_for(1)
    miner.stakes.stake(Role.MINER, 1_000 * 10**18)
    params = task_params(step=60)
    task_id = proposer.board.post_task(params)
    miner.settlement.join(
        task_id, b"\x01" * 32, forced_error_commitment(task_id, miner.address, b"\x02" * 32)
    )
    clock.warp_to(params.join_deadline + 1)
    miner.settlement.commit(task_id, b"\x03" * 32, params.num_problems * params.rollouts_per_problem)
    ctx = types.SimpleNamespace(chain=validator, address=validator.address)
    assert committee_seats(ctx, task_id) is None  # no challenge beacon on chain: no committee yet
    clock.warp_to(params.commit_deadline + 1)
    task = proposer.board.get_task(task_id)
    proposer.beacon.record_beacon(*devnet_beacon.sign(task.challenge_round).onchain_args())
    seats = committee_seats(ctx, task_id)
    other = committee_seats(types.SimpleNamespace(chain=validator, address=chain_for(6).address), task_id)
    assert seats == validator.settlement.committee_seats(task_id, validator.address)
    # Each validator draws its own C lots against its share of the stake (PROTOCOL §2.7), so each
    # holds at most C seats; the two together need not sum to C (independent draws).
    cap = validator.settlement.params().committee_seats
    assert 0 <= seats <= cap and 0 <= other <= cap and seats + other > 0
