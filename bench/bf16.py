"""The bf16 study (`rollproof bench honest --bf16`, PROTOCOL.md §9.7): honest bf16 deviations
across kernels, threads and batch sizes next to cheats, for candidate per-rollout checks."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from bench.kernels import TokenStats, available_capabilities, kernels_task, say, spawn, token_stats
from verifier.sampler import pad_token_id

BF16_MARGIN = 1.5  # a candidate check's threshold: this many times the largest honest value


def rollout_statistics(stats: TokenStats) -> dict[str, float]:
    """The per-rollout statistics a bf16 check could threshold."""
    d = sorted(stats.diffs)
    return {
        "max \\|Δlogprob\\|": d[-1],
        "median \\|Δlogprob\\| (GRAIL-like)": d[len(d) // 2],
        "mean \\|Δlogprob\\|": sum(d) / len(d),
        "token-flip fraction": stats.flips / len(d),
    }


def run_bf16_bench(
    model: str = "smollm2",
    rollouts: int = 8,
    tokens: int = 48,
    out: Callable[[str], None] = say,
    gens: Sequence[tuple[str, int, int]] | None = None,
    vers: Sequence[tuple[str, int]] | None = None,
) -> bool:
    """Honest bf16 rollouts across kernels, threads and batch sizes against three cheats; prints, for
    each candidate statistic, the honest maximum, the threshold (BF16_MARGIN x it) and the fraction
    of each cheat's rollouts above it. Returns whether one check reaches 0 honest rejections and
    >= 99 % on every cheat."""
    from bench.cheaters import greedy_source, perturbed_copy
    from bench.workload import BENCH_MINER, BasicArithmeticEnv
    from verifier.models import load_model, tiny_model
    from verifier.sampler import prove_rollouts

    caps = available_capabilities()
    mid = caps[1] if len(caps) > 2 else caps[0]
    # (capability, threads, prover batch) and (capability, threads); by default three of each that
    # differ in all three.
    gens = gens or [(caps[-1], 1, 8), ("default", 1, 1), (mid, 2, 8)]
    vers = vers or [(caps[-1], 1), ("default", 1), (mid, 2)]
    out(
        f"# bf16 study: {model}, {rollouts} rollouts x <= {tokens} tokens, T = 0.7; generated under "
        f"{', '.join(f'{c}/{t} thread(s)/batch {b}' for c, t, b in gens)}; verified under "
        f"{', '.join(f'{c}/{t}' for c, t in vers)} at prefill batch 1 and 8; load average "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    honest: list[TokenStats] = []
    with tempfile.TemporaryDirectory(prefix="rollproof-bf16-") as tmp:
        root = Path(tmp)
        files = []
        for cap, t, b in gens:
            path = root / f"gen-{cap}-t{t}-b{b}.json"
            spawn(["generate", model, str(tokens), str(rollouts), str(path)], cap, t, "bf16", b)
            files.append(path)
        for cap, t in vers:
            path = root / f"verify-{cap}-t{t}.json"
            spawn(["verify", model, str(tokens), str(rollouts), str(path), *map(str, files)], cap, t, "bf16")
            for rows in json.loads(path.read_text())["pairs"].values():
                honest += [TokenStats(r[0], r[1]) for r in rows]
    torch.set_num_threads(1)
    base32, tokenizer = load_model(model)
    base = copy_to(base32, torch.bfloat16)
    task, env, pad = (
        kernels_task(tokens, rollouts, task_id=14_700),
        BasicArithmeticEnv(),
        pad_token_id(tokenizer),
    )
    cheats = {
        "weights + 1e-3·std noise": lambda: prove_rollouts(
            copy_to(perturbed_copy(base32, 1e-3, seed=3), torch.bfloat16), tokenizer, env, task, BENCH_MINER
        ),
        "different model (random init)": lambda: prove_rollouts(
            tiny_model(seed=99)[0].to(torch.bfloat16), tokenizer, env, task, BENCH_MINER
        ),
        "greedy decoding": lambda: prove_rollouts(
            base, tokenizer, env, task, BENCH_MINER, token_source=greedy_source
        ),
    }
    cheat_stats = {name: token_stats(base, task, make()[:rollouts], 8, pad) for name, make in cheats.items()}
    names = list(rollout_statistics(honest[0]))
    out(f"honest: {len(honest)} rollout checks ({sum(len(h.diffs) for h in honest)} tokens)")
    out(
        "| statistic (per rollout) | honest max | threshold | "
        + " | ".join(f"caught: {c}" for c in cheats)
        + " |"
    )
    out("|---" * (3 + len(cheats)) + "|")
    reaches = False
    for stat in names:
        worst = max(rollout_statistics(h)[stat] for h in honest)
        threshold = BF16_MARGIN * worst
        rates = [
            sum(rollout_statistics(s)[stat] > threshold for s in rows) / len(rows)
            for rows in cheat_stats.values()
        ]
        reaches |= all(r >= 0.99 for r in rates)
        out(f"| {stat} | {worst:.3g} | {threshold:.3g} | " + " | ".join(f"{r:.3f}" for r in rates) + " |")
    worst_flip = max(rollout_statistics(h)["token-flip fraction"] for h in honest)
    worst_mean = max(rollout_statistics(h)["mean \\|Δlogprob\\|"] for h in honest)
    combined = [
        sum(
            rollout_statistics(s)["token-flip fraction"] > BF16_MARGIN * worst_flip
            or rollout_statistics(s)["mean \\|Δlogprob\\|"] > BF16_MARGIN * worst_mean
            for s in rows
        )
        / len(rows)
        for rows in cheat_stats.values()
    ]
    reaches |= all(r >= 0.99 for r in combined)
    out("| mean or flip fraction (either above) | | | " + " | ".join(f"{r:.3f}" for r in combined) + " |")
    out(
        f"a check with 0 honest rejections (margin {BF16_MARGIN}x) catching every cheat in >= 99 %: {reaches}"
    )
    return reaches


def copy_to(model, dtype: torch.dtype):
    import copy

    return copy.deepcopy(model).to(dtype)
