"""Honest false-rejection rate of the verifier with the real model, at scale.

Generates N honest SmolLM2 rollouts with the prover (miner batch 8) in chunks of tasks, then
audits every generated token of every rollout (validator prefill batch 8) under the default
task's AuditParams (verifier/params.py) and prints the false rejections.

    .venv/bin/python -m bench.honest --rollouts 1000 --tokens 48

With `--kernels` (also `rollproof bench honest --kernels`): cross-kernel calibration instead —
generate under every available ATen CPU capability and thread count 1-2, verify under the others,
report the deviations, the tolerance they give and the detection floor (bench/kernels.py). With
`--bf16`: the bf16 study (bench/bf16.py).

    .venv/bin/python -m bench.honest --kernels --rollouts 16 --tokens 64
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch

from bench.workload import BENCH_MINER, BasicArithmeticEnv, audit_all, bench_task

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def run_honest_bench(
    model: str = "smollm2",
    rollouts: int = 1000,
    tokens: int = 48,
    threads: int = 1,
    per_task: int = 64,
    out: Callable[[str], None] = print,
) -> int:
    """Honest false rejections at scale: generate `rollouts` honest rollouts (miner batch 8) and audit
    every token of every one under the default task's audit parameters; returns the rejections."""
    from bench.kernels import quantile, token_stats
    from verifier.models import load_model
    from verifier.sampler import pad_token_id, prove_rollouts

    spec = model
    torch.set_num_threads(threads)
    model, tokenizer = load_model(spec)
    env, pad = BasicArithmeticEnv(), pad_token_id(tokenizer)
    done = rejected = audited = 0
    diffs: list[float] = []
    flips, worst_edge = 0, 0.0
    start = time.time()
    out(f"# honest {spec}: load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    task_id = 7000
    while done < rollouts:
        n = min(per_task, rollouts - done)
        task = bench_task(task_id, tokens, max(1, n // 8), 8)
        batch = prove_rollouts(model, tokenizer, env, task, BENCH_MINER, batch_size=8)[:n]
        verdicts = audit_all(model, tokenizer, env, task, batch)
        bad = [v for v in verdicts if not v.passed]
        rejected += len(bad)
        # The deviations themselves (the audit only says pass/fail): same prefill batch as the audit.
        for stats in token_stats(model, task, batch, 8, pad):
            diffs += stats.diffs
            flips += stats.flips
            worst_edge = max(worst_edge, max(stats.edges, default=0.0))
        for v in bad:
            out(f"  task {task_id}: rejected: {v.failures}")
        done += len(batch)
        audited += sum(len(r.tokens) for r in batch)
        task_id += 1
        out(
            f"{done}/{rollouts} rollouts, {audited} tokens audited, {rejected} rejected, "
            f"max |Δlogprob| {max(diffs, default=0.0):.2e}, p99 {quantile(diffs, 0.99):.2e}, "
            f"{flips} token flips, {time.time() - start:.0f} s"
        )
    out(
        f"honest {spec}: {rejected} false rejections in {done} rollouts "
        f"({audited} generated tokens, every one checked; logprob tol {task.audit.logprob_tol}, "
        f"slack {task.audit.edge_slack}); max |Δlogprob| {max(diffs, default=0.0):.2e}, "
        f"p99 {quantile(diffs, 0.99):.2e}, p50 {quantile(diffs, 0.5):.2e}, {flips} token flips "
        f"(max edge distance {worst_edge:.1e}); "
        f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )

    return rejected


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rollouts", type=int, default=1000, help="honest rollouts to generate and audit")
    ap.add_argument("--tokens", type=int, default=48, help="max new tokens per rollout")
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--per-task", type=int, default=64, help="rollouts per simulated task (P x 8)")
    ap.add_argument("--kernels", action="store_true", help="cross-kernel calibration (see above)")
    ap.add_argument("--bf16", action="store_true", help="the bf16 study: honest bf16 deviations vs cheats")
    ap.add_argument("--floor-rollouts", type=int, default=16, help="--kernels: rollouts per detection level")
    ap.add_argument("--keep", type=Path, help="--kernels: keep (and reuse) the per-setting JSON files here")
    args = ap.parse_args()
    if args.bf16:
        from bench.bf16 import run_bf16_bench

        run_bf16_bench(args.model, args.rollouts, args.tokens)
        return
    if args.kernels:
        from bench.kernels import run_kernels_bench

        run_kernels_bench(
            args.model, args.rollouts, args.tokens, floor_rollouts=args.floor_rollouts, keep=args.keep
        )
        return
    run_honest_bench(args.model, args.rollouts, args.tokens, args.threads, args.per_task)


if __name__ == "__main__":
    main()
