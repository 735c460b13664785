"""The cost figures of `rollproof bench verify` (PROTOCOL.md §9.6): CPU seconds per rollout of the
prover at batch 1 and B, transformers `generate`, decoding without recording logprobs, and the
prefill audit of the same rollouts."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import torch

from bench.workload import BENCH_MINER, bench_task
from verifier.challenge import get_challenge
from verifier.commitments import MerkleTree, leaf_hash
from verifier.prf import H
from verifier.rollout import Rollout, TaskSpec, reward_to_micro
from verifier.sampler import chat_prompt_ids, pad_token_id, sample_batch, scaled_log_softmax, task_problems
from verifier.verify import Prefill, Verdict, verify_rollouts

if TYPE_CHECKING:
    from bench.verify import BenchConfig


def plain_source(
    logits: torch.Tensor, u: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The inverse-CDF draw without recording logprobs (for the recording-overhead figure)."""
    logp = scaled_log_softmax(logits, temperature)
    cdf = torch.cumsum(torch.exp(logp), dim=-1)
    x = (u * cdf[..., -1]).unsqueeze(-1)
    tokens = torch.searchsorted(cdf, x, right=True).squeeze(-1).clamp(max=logp.shape[-1] - 1)
    return tokens, torch.zeros(tokens.shape, dtype=torch.float64)


def timed(fn: Callable[..., object], *args: object) -> tuple[float, object]:
    """CPU seconds of this process (not wall time): on a shared machine the wall clock measures the
    neighbours; the CPU time of a single-threaded run measures the work."""
    start = time.process_time()
    out = fn(*args)
    return time.process_time() - start, out


def measure_costs(
    model, tokenizer, env, cfg: BenchConfig, n_tok: int
) -> tuple[dict[str, float], bool, TaskSpec, list[Rollout]]:
    """Seconds per rollout at n_tok forced new tokens, and whether the honest audits passed."""
    from verifier.prf import sampler_us

    eos, pad = frozenset(), pad_token_id(tokenizer)  # no EOS: every row runs the full length
    task = bench_task(200 + n_tok, n_tok, max(1, cfg.batch // 4), 4, audit=cfg.audit)
    problems = task_problems(env, task)
    pairs = [task.problem_and_rollout(i) for i in range(cfg.batch)]
    prompts = [chat_prompt_ids(tokenizer, env.messages(problems[p])) for p, _ in pairs]
    us = [sampler_us(task.seed_randomness, task.task_id, BENCH_MINER, p, g, n_tok) for p, g in pairs]
    temp = task.temperature
    # The machine is shared: interleave the contenders and keep each one's best of cfg.cost_reps runs.
    t_b1 = t_bb = t_plain = t_gen = math.inf
    for _ in range(cfg.cost_reps):
        t_b1 = min(t_b1, timed(sample_batch, model, prompts[:1], us[:1], temp, n_tok, eos, pad)[0])
        elapsed, comps = timed(sample_batch, model, prompts, us, temp, n_tok, eos, pad)
        t_bb = min(t_bb, elapsed)
        t_gen = min(t_gen, time_hf_generate(model, tokenizer, prompts, temp, n_tok))
        t_plain = min(
            t_plain, timed(sample_batch, model, prompts, us, temp, n_tok, eos, pad, plain_source)[0]
        )
    rollouts = []
    for j, ((p, g), c) in enumerate(zip(pairs, comps, strict=True)):
        text = tokenizer.decode(c.tokens, skip_special_tokens=True)
        reward = reward_to_micro(env.score(problems[p], text))
        rollouts.append(
            Rollout(
                task.task_id, BENCH_MINER, p, g, tuple(prompts[j]), tuple(c.tokens), tuple(c.logprobs), reward
            )
        )
    tree = MerkleTree.of_rollouts(rollouts)
    full = get_challenge(
        H("cost"),
        task.task_id,
        BENCH_MINER,
        task.total_rollouts,
        replace(task.audit, rollouts=task.total_rollouts),
    )
    items = {it.index: it for it in full.items}

    def audit(rs: list[Rollout]) -> Verdict:
        ch = replace(full, items=tuple(items[task.rollout_index(r.p, r.g)] for r in rs))
        proofs = [tree.proof(leaf_hash(r)) for r in rs]
        return verify_rollouts(model, tokenizer, env, task, tree.root, rs, proofs, ch, Prefill(), problems)

    a_b1 = a_bb = math.inf
    for _ in range(cfg.cost_reps):
        elapsed, v1 = timed(audit, rollouts[:1])
        a_b1 = min(a_b1, elapsed)
        elapsed, vb = timed(audit, rollouts)
        a_bb = min(a_bb, elapsed)
    per = {
        "prover_b1": t_b1,
        "prover_bb": t_bb / cfg.batch,
        "generate_bb": t_gen / cfg.batch,
        "plain_bb": t_plain / cfg.batch,
        "audit_b1": a_b1,
        "audit_bb": a_bb / cfg.batch,
    }
    # Forced full length runs through EOS, which the termination rule rightly rejects; every other
    # check must pass.
    passed = all(f.check == "termination" for v in (v1, vb) for f in v.failures)
    return per, passed, task, rollouts


def section_costs(
    model, tokenizer, env, cfg: BenchConfig, out: Callable[[str], None]
) -> dict[int, dict[str, float]]:
    """Seconds per rollout: prover at batch 1 and B, generate(do_sample) at B, plain decoding, audits."""
    torch.set_num_threads(cfg.threads)
    b = cfg.batch
    out(
        f"## cost per rollout (CPU seconds, best of {cfg.cost_reps}), {cfg.threads} thread(s), forced full length"
    )
    out(
        f"| new tokens | prover b1 | prover b{b} | generate() b{b} | plain decode b{b} | logprob overhead | "
        f"audit b1 | audit b{b} | audit/gen b1 | audit/gen b{b} |"
    )
    out("|---|---|---|---|---|---|---|---|---|---|")
    figures: dict[int, dict[str, float]] = {}
    long_runs = []
    for n_tok in cfg.new_tokens:
        per, passed, task, rollouts = measure_costs(model, tokenizer, env, cfg, n_tok)
        long_runs.append((task, rollouts))
        figures[n_tok] = per
        overhead = per["prover_bb"] / per["plain_bb"] - 1.0
        out(
            f"| {n_tok} | {per['prover_b1']:.3f} | {per['prover_bb']:.3f} | {per['generate_bb']:.3f} | "
            f"{per['plain_bb']:.3f} | {overhead * 100:+.1f}% | {per['audit_b1']:.3f} | {per['audit_bb']:.3f} | "
            f"{per['audit_b1'] / per['prover_b1']:.3f} | {per['audit_bb'] / per['prover_bb']:.3f} |"
            + ("" if passed else "  (honest audit FAILED)")
        )
    for n_tok, per in figures.items():
        out(
            f"prover vs generate(do_sample=True) at batch {b}, {n_tok} tokens: "
            f"{per['generate_bb'] / per['prover_bb']:.2f}x generate's time per rollout "
            f"(> 1 means the prover is faster)"
        )
    from bench.calibration import TABLE_HEADER, PrefillSetting, measure_deviation

    out("honest deviations of the forced full-length (long) rollouts above:")
    out(TABLE_HEADER)
    for task, rollouts in long_runs:
        setting = PrefillSetting(f"{task.max_tokens} forced tokens, batch {cfg.batch}, right padding")
        out(measure_deviation(model, tokenizer, task, rollouts, setting).row())
    return figures


@torch.inference_mode()
def time_hf_generate(
    model, tokenizer, prompts: Sequence[Sequence[int]], temperature: float, n_tok: int
) -> float:
    """transformers generate(do_sample=True) on the same left-padded batch, forced to n_tok tokens."""
    from verifier.sampler import left_pad

    ids, mask, _ = left_pad(prompts, pad_token_id(tokenizer))
    start = time.process_time()
    model.generate(
        input_ids=ids,
        attention_mask=mask,
        do_sample=True,
        temperature=temperature,
        top_k=0,
        top_p=1.0,
        max_new_tokens=n_tok,
        min_new_tokens=n_tok,
        pad_token_id=pad_token_id(tokenizer),
    )
    return time.process_time() - start
