"""The verifiable sampler: inverse-CDF draws, batch/padding invariance, KV cache vs full recompute, EOS."""

from __future__ import annotations

import math

import torch
from verifier_helpers import MINER, make_task

from verifier.prf import sampler_us
from verifier.sampler import (
    chat_prompt_ids,
    eos_token_ids,
    inverse_cdf_draw,
    inverse_cdf_index,
    pad_token_id,
    prove_rollouts,
    sample_batch,
    scaled_log_softmax,
    task_problems,
)


def test_inverse_cdf_on_a_known_distribution():
    logp = torch.log(torch.tensor([[0.1, 0.2, 0.3, 0.4]], dtype=torch.float64))
    picks = [
        int(inverse_cdf_index(logp, torch.tensor([u], dtype=torch.float64)))
        for u in (0.0, 0.05, 0.15, 0.29, 0.31, 0.65, 0.999)
    ]
    assert picks == [0, 0, 1, 1, 2, 3, 3]


def test_inverse_cdf_never_picks_a_zero_probability_token():
    logits = torch.tensor([[0.0, -float("inf"), 0.0, -float("inf")]], dtype=torch.float32)
    for u in (0.0, 0.4999, 0.5, 0.99999):
        tok, lp = inverse_cdf_draw(logits, torch.tensor([u], dtype=torch.float64), 1.0)
        assert int(tok) in (0, 2) and abs(float(lp) - math.log(0.5)) < 1e-12


def test_draw_frequencies_follow_the_tempered_softmax():
    logits = torch.tensor([1.0, 0.0, -1.0, 2.0], dtype=torch.float32)
    probs = torch.softmax(logits.double() / 0.7, -1)
    us = torch.tensor(sampler_us(b"\x01" * 32, 1, MINER, 0, 0, 6000), dtype=torch.float64)
    tokens, _ = inverse_cdf_draw(logits.expand(6000, 4), us, 0.7)
    freq = torch.bincount(tokens, minlength=4).double() / 6000
    assert torch.allclose(freq, probs, atol=0.02)


def test_batch_and_padding_do_not_change_the_draws(tiny, env):
    model, tok = tiny
    task = make_task(max_tokens=12)
    problems = task_problems(env, task)
    prompts = [
        chat_prompt_ids(tok, env.messages(problems[p])) + [0] * p for p in range(4)
    ]  # distinct lengths
    us = [sampler_us(task.seed_randomness, task.task_id, MINER, p, 0, 12) for p in range(4)]
    eos, pad = eos_token_ids(tok), pad_token_id(tok)
    batched = sample_batch(model, prompts, us, 0.7, 12, eos, pad)
    for row in range(4):
        alone = sample_batch(model, prompts[row : row + 1], us[row : row + 1], 0.7, 12, eos, pad)[0]
        assert alone.tokens == batched[row].tokens
        assert max(abs(a - b) for a, b in zip(alone.logprobs, batched[row].logprobs, strict=True)) < 1e-5


@torch.inference_mode()
def test_kv_cache_decode_matches_full_recompute(tiny, env):
    model, tok = tiny
    task = make_task(max_tokens=10)
    prompt = chat_prompt_ids(tok, env.messages(task_problems(env, task)[0]))
    us = sampler_us(task.seed_randomness, task.task_id, MINER, 0, 0, 10)
    fast = sample_batch(model, [prompt], [us], 0.7, 10, eos_token_ids(tok), pad_token_id(tok))[0]
    seq, tokens, logprobs = list(prompt), [], []
    for t in range(10):  # no cache: a full forward over the whole sequence at every step
        logits = model(input_ids=torch.tensor([seq])).logits[:, -1, :].float()
        token, lp = inverse_cdf_draw(logits, torch.tensor([us[t]], dtype=torch.float64), 0.7)
        tokens.append(int(token))
        logprobs.append(float(lp))
        seq.append(int(token))
    assert fast.tokens == tokens
    assert max(abs(a - b) for a, b in zip(fast.logprobs, logprobs, strict=True)) < 1e-5


def test_rows_stop_at_eos_and_others_run_to_max(tiny):
    model, tok = tiny
    eos = int(tok.eos_token_id)

    state = {"t": 0}

    def eos_for_row_zero_at_step_three(logits, u, temperature):
        tokens, lps = inverse_cdf_draw(logits, u, temperature)
        if state["t"] == 3:
            tokens[0] = eos
        state["t"] += 1
        return tokens, lps

    prompts = [[1, 2, 3], [1, 2]]
    us = [[0.5] * 8, [0.25] * 8]
    out = sample_batch(
        model, prompts, us, 0.7, 8, frozenset([eos]), pad_token_id(tok), eos_for_row_zero_at_step_three
    )
    assert len(out[0].tokens) == 4 and out[0].tokens[-1] == eos
    assert len(out[1].tokens) == 8 and eos not in out[1].tokens


@torch.inference_mode()
def test_prove_rollouts_in_commit_order_with_rewards(tiny, env):
    model, tok = tiny
    task = make_task(max_tokens=6, P=2, G=3)
    rs = prove_rollouts(model, tok, env, task, MINER, batch_size=4)
    assert [(r.p, r.g) for r in rs] == [(p, g) for p in range(2) for g in range(3)]
    assert all(r.claimed_reward == 500_000 and len(r.tokens) == 6 and r.miner == MINER for r in rs)
    # The logprobs recorded are the T-scaled ones of the chosen tokens.
    logits = model(input_ids=torch.tensor([list(rs[0].prompt_ids)])).logits[0, -1].float()
    assert abs(float(scaled_log_softmax(logits, 0.7)[rs[0].tokens[0]]) - rs[0].logprobs[0]) < 1e-5
