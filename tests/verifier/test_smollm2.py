"""A few checks with the real SmolLM2-135M (kept short): honest rollouts pass; a noise-perturbed
copy of the weights and greedy decoding are caught."""

from __future__ import annotations

from dataclasses import replace

import pytest
from verifier_helpers import MINER, make_task

from bench.cheaters import greedy_source, perturbed_copy
from bench.workload import BasicArithmeticEnv
from verifier.challenge import get_challenge
from verifier.commitments import MerkleTree, leaf_hash
from verifier.sampler import prove_rollouts
from verifier.verify import verify_rollouts

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smol():
    from verifier.models import load_model

    return load_model("smollm2")


@pytest.fixture(scope="module")
def setting(smol):
    model, tok = smol
    env = BasicArithmeticEnv()
    task = make_task(task_id=90, max_tokens=12, P=2, G=2)
    return env, task, prove_rollouts(model, tok, env, task, MINER, batch_size=4)


def audit_all(model, tok, env, task, rollouts):
    tree = MerkleTree.of_rollouts(rollouts)
    ch = get_challenge(
        b"\x05" * 32,
        task.task_id,
        MINER,
        task.total_rollouts,
        replace(task.audit, rollouts=task.total_rollouts),
    )
    picked = [rollouts[i] for i in ch.indices]
    return verify_rollouts(
        model, tok, env, task, tree.root, picked, [tree.proof(leaf_hash(r)) for r in picked], ch
    )


def test_honest_smollm2_rollouts_pass(smol, setting):
    model, tok = smol
    env, task, rollouts = setting
    verdict = audit_all(model, tok, env, task, rollouts)
    assert verdict.passed, verdict.failures
    assert verdict.audited == 4


def test_noise_perturbed_smollm2_is_caught(smol, setting):
    model, tok = smol
    env, task, _ = setting
    cheat = prove_rollouts(perturbed_copy(model, 1e-3), tok, env, task, MINER, batch_size=4)
    verdict = audit_all(model, tok, env, task, cheat)
    assert not verdict.passed and "logprob" in verdict.failed_checks()
    assert len({f.index for f in verdict.failures}) == 4  # every rollout is caught


def test_greedy_smollm2_is_caught(smol, setting):
    model, tok = smol
    env, task, _ = setting
    cheat = prove_rollouts(model, tok, env, task, MINER, batch_size=4, token_source=greedy_source)
    verdict = audit_all(model, tok, env, task, cheat)
    assert not verdict.passed and verdict.failed_checks() == {"token"}
