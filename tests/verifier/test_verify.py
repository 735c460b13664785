"""verify_rollouts: honest rollouts pass (no false rejections), and each cheater, breaking exactly one
rule, is caught by the check that guards that rule."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
import torch
from verifier_helpers import MINER, OTHER_MINER, make_task

from bench.cheaters import (
    greedy_source,
    perturbed_copy,
    refill_logprobs,
    temperature_source,
)
from verifier.challenge import get_challenge
from verifier.commitments import MerkleTree, leaf_hash
from verifier.params import AuditParams
from verifier.rollout import Rollout
from verifier.sampler import prove_rollouts
from verifier.verify import Prefill, verify_rollouts

CHALLENGE_R = b"\x99" * 32


def audit(
    model, tok, env, task, rollouts, miner=MINER, audit_count=None, k=0, served=None, prefill=Prefill()
):
    """Commit `rollouts` (the miner's full set) in a tree, challenge (m = audit_count, default every
    rollout; k positions, default every one), serve `served` (default: the committed ones) with the
    committed tree's proofs, and verify."""
    tree = MerkleTree.of_rollouts(rollouts)
    task = replace(task, audit=replace(task.audit, rollouts=audit_count or task.total_rollouts, positions=k))
    ch = get_challenge(CHALLENGE_R, task.task_id, miner, task.total_rollouts, task.audit)
    served = served if served is not None else rollouts
    by_index = {task.rollout_index(r.p, r.g): (r, c) for r, c in zip(served, rollouts, strict=True)}
    picked = [by_index[i][0] for i in ch.indices]
    proofs = [tree.proof(leaf_hash(by_index[i][1])) for i in ch.indices]
    return verify_rollouts(model, tok, env, task, tree.root, picked, proofs, ch, prefill)


@pytest.fixture(scope="module")
def honest(tiny, env):
    model, tok = tiny
    task = make_task(max_tokens=16, P=4, G=4)
    return task, prove_rollouts(model, tok, env, task, MINER, batch_size=8)


def test_honest_rollouts_pass_at_least_100(tiny, env):
    model, tok = tiny
    task = make_task(task_id=70, max_tokens=12, P=16, G=8)
    rollouts = prove_rollouts(model, tok, env, task, MINER, batch_size=16)
    verdict = audit(model, tok, env, task, rollouts, k=12)
    assert verdict.audited == 128 and verdict.failures == [] and verdict.passed
    assert verdict.score == 500_000


def test_honest_eos_terminated_rollouts_pass(env):
    """A model that often emits EOS: variable-length rollouts, left padding in the prover."""
    from verifier.models import tiny_model

    model, tok = tiny_model(seed=3)
    head = torch.nn.Linear(model.lm_head.in_features, model.lm_head.out_features, bias=True)
    with torch.no_grad():
        head.weight.copy_(model.lm_head.weight)
        head.bias.zero_()
        head.bias[tok.eos_token_id] = 6.0  # about 10% EOS per step at T = 0.7
    model.lm_head = head
    task = make_task(task_id=71, max_tokens=16, P=4, G=4)
    rollouts = prove_rollouts(model, tok, env, task, MINER, batch_size=8)
    lengths = [len(r.tokens) for r in rollouts]
    assert min(lengths) < 16 and any(r.tokens[-1] == tok.eos_token_id for r in rollouts)
    verdict = audit(model, tok, env, task, rollouts)
    assert verdict.passed, verdict.failures


def test_verdict_passes_with_right_and_left_prefill_padding(tiny, env, honest):
    model, tok = tiny
    task, rollouts = honest
    for padding in ("left", "right"):
        assert audit(model, tok, env, task, rollouts, prefill=Prefill(padding=padding)).passed


def caught_by(verdict) -> set[str]:
    assert not verdict.passed
    return verdict.failed_checks()


def test_different_model_is_caught(tiny, env, honest):
    from verifier.models import tiny_model

    model, tok = tiny
    task, _ = honest
    cheat = prove_rollouts(tiny_model(seed=5)[0], tok, env, task, MINER)
    assert caught_by(audit(model, tok, env, task, cheat)) == {"token", "logprob"}


def test_noise_perturbed_weights_are_caught_by_the_logprob_check(tiny, env, honest):
    model, tok = tiny
    task, _ = honest
    cheat = prove_rollouts(perturbed_copy(model, 1e-2), tok, env, task, MINER)
    assert "logprob" in caught_by(audit(model, tok, env, task, cheat))


def test_different_adapter_than_joined_is_caught(tiny, env, honest):
    from verifier.models import new_adapter

    _, tok = tiny
    task, _ = honest

    def adapted(seed):
        m = new_adapter(copy.deepcopy(tiny[0]), rank=4, seed=seed)
        with torch.no_grad():
            gen = torch.Generator().manual_seed(seed)
            for name, p in m.named_parameters():
                if "lora_B" in name:
                    p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
        return m.eval()

    joined, used = adapted(1), adapted(2)
    cheat = prove_rollouts(used, tok, env, task, MINER)
    assert audit(joined, tok, env, task, prove_rollouts(joined, tok, env, task, MINER)).passed
    assert caught_by(audit(joined, tok, env, task, cheat)) == {"token", "logprob"}


def test_greedy_decoding_is_caught_by_the_token_check(tiny, env, honest):
    model, tok = tiny
    task, _ = honest
    cheat = prove_rollouts(model, tok, env, task, MINER, token_source=greedy_source)
    assert caught_by(audit(model, tok, env, task, cheat)) == {"token"}


def test_other_temperature_is_caught(tiny, env, honest):
    model, tok = tiny
    task, _ = honest
    cheat = prove_rollouts(model, tok, env, task, MINER, token_source=temperature_source(1.0))
    assert "logprob" in caught_by(audit(model, tok, env, task, cheat))


def test_cheap_generation_with_real_prefill_logprobs_is_caught_by_the_token_check(tiny, env, honest):
    from verifier.models import tiny_model

    model, tok = tiny
    task, _ = honest
    cheap = prove_rollouts(tiny_model(seed=8)[0], tok, env, task, MINER)
    cheat = refill_logprobs(model, tok, task, cheap)
    assert caught_by(audit(model, tok, env, task, cheat)) == {"token"}


def test_forged_logprobs_are_caught(tiny, env, honest):
    model, tok = tiny
    task, rollouts = honest
    cheat = [replace(r, logprobs=tuple(x + 0.01 for x in r.logprobs)) for r in rollouts]
    assert caught_by(audit(model, tok, env, task, cheat)) == {"logprob"}
    nan = [replace(r, logprobs=(float("nan"),) * len(r.tokens)) for r in rollouts]
    assert caught_by(audit(model, tok, env, task, nan)) == {"logprob"}


def test_tokens_edited_after_commit_fail_inclusion(tiny, env, honest):
    model, tok = tiny
    task, rollouts = honest
    edited = [replace(r, tokens=(r.tokens[0] + 1,) + r.tokens[1:]) for r in rollouts]
    assert "inclusion" in caught_by(audit(model, tok, env, task, rollouts, served=edited))


def test_tokens_edited_before_commit_fail_the_sampler_checks(tiny, env, honest):
    model, tok = tiny
    task, rollouts = honest
    edited = [replace(r, tokens=r.tokens[:5] + ((r.tokens[5] + 1) % 49152,) + r.tokens[6:]) for r in rollouts]
    assert caught_by(audit(model, tok, env, task, edited)) == {"token", "logprob"}


def test_replayed_rollout_under_another_miner_is_caught(tiny, env, honest):
    model, tok = tiny
    task, rollouts = honest
    relabelled = [replace(r, miner=OTHER_MINER) for r in rollouts]
    assert caught_by(audit(model, tok, env, task, relabelled, miner=OTHER_MINER)) == {"token"}
    # Keeping the victim's address in the leaf instead: the identity check.
    assert caught_by(audit(model, tok, env, task, rollouts, miner=OTHER_MINER)) == {"identity", "token"}


def test_rollout_from_another_task_is_caught(tiny, env, honest):
    model, tok = tiny
    task, _ = honest
    other_task = replace(task, task_id=task.task_id + 1)
    other = prove_rollouts(model, tok, env, other_task, MINER)
    relabelled = [replace(r, task_id=task.task_id) for r in other]
    assert {"prompt", "token"} <= caught_by(audit(model, tok, env, task, relabelled))


def test_rollout_for_another_problem_is_caught(tiny, env, honest):
    model, tok = tiny
    task, rollouts = honest
    G = task.rollouts_per_problem
    swapped = [replace(rollouts[((r.p + 1) % task.num_problems) * G + r.g], p=r.p) for r in rollouts]
    assert {"prompt", "token"} <= caught_by(audit(model, tok, env, task, swapped))


def test_inflated_reward_is_caught(tiny, env, honest):
    model, tok = tiny
    task, rollouts = honest
    cheat = [replace(r, claimed_reward=1_000_000) for r in rollouts]
    verdict = audit(model, tok, env, task, cheat)
    assert caught_by(verdict) == {"reward"} and verdict.score == 500_000


def test_truncated_completion_is_caught(tiny, env, honest):
    model, tok = tiny
    task, rollouts = honest
    cheat = [replace(r, tokens=r.tokens[:9], logprobs=r.logprobs[:9]) for r in rollouts]
    assert caught_by(audit(model, tok, env, task, cheat)) == {"termination"}


def test_every_failed_check_is_named(tiny, env, honest):
    model, tok = tiny
    task, rollouts = honest
    cheat = [
        replace(r, claimed_reward=1_000_000, logprobs=tuple(x - 1 for x in r.logprobs)) for r in rollouts
    ]
    verdict = audit(model, tok, env, task, cheat, audit_count=2)
    assert caught_by(verdict) == {"reward", "logprob"}
    assert {f.index for f in verdict.failures} == set(
        get_challenge(CHALLENGE_R, task.task_id, MINER, task.total_rollouts, AuditParams(rollouts=2)).indices
    )
    assert all(f.detail for f in verdict.failures)


def test_missing_and_malformed_rollouts(tiny, env, honest):
    model, tok = tiny
    task, rollouts = honest
    tree = MerkleTree.of_rollouts(rollouts)
    task = replace(task, audit=AuditParams(rollouts=2, positions=8))
    ch = get_challenge(CHALLENGE_R, task.task_id, MINER, task.total_rollouts, task.audit)
    v = verify_rollouts(model, tok, env, task, tree.root, [None, None], [None, None], ch)
    assert caught_by(v) == {"missing"} and v.score == 0
    bad = Rollout(task.task_id, MINER, *task.problem_and_rollout(ch.indices[0]), (1,), (), (), 0)
    v = verify_rollouts(model, tok, env, task, tree.root, {ch.indices[0]: bad}, {}, ch)
    assert {"length", "inclusion", "prompt", "missing"} == caught_by(v)
    huge = replace(rollouts[0], tokens=(10**9,) * 16)
    v = verify_rollouts(model, tok, env, task, tree.root, [huge], [[]], replace(ch, items=ch.items[:1]))
    assert "length" in caught_by(v)


def test_cdf_interval_distance_and_slack():
    from verifier.verify import cdf_interval_distance

    logp = torch.log(torch.tensor([0.25, 0.25, 0.5], dtype=torch.float64))
    assert cdf_interval_distance(logp, 1, 0.3) == (0.0, 1)
    distance, expected = cdf_interval_distance(logp, 1, 0.5 + 1e-6)  # just past token 1's upper edge
    assert expected == 2 and 0 < distance < 2e-6 < AuditParams().edge_slack
    distance, expected = cdf_interval_distance(logp, 0, 0.9)
    assert expected == 2 and distance > AuditParams().edge_slack
