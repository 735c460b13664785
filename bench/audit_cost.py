"""Audit vs generation cost with every position audited (PROTOCOL.md §9.6).

CPU seconds (single thread: on a shared machine the CPU time of the process is the work, the wall
clock is the neighbours) per rollout of: the prover at batch 8, forced to the full length; the
audit of those rollouts at batch 8 with k = 32 positions and with every position (k = 0). Then
the per-task ratio `V · m · audit / (P · G · generation)` at the given task parameters.

    .venv/bin/python -m bench.audit_cost --tokens 64 128 --P 4 --G 4 --m 4
"""

from __future__ import annotations

import argparse
import math
import os
import time
from dataclasses import replace

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from bench.workload import BENCH_MINER, BasicArithmeticEnv, bench_task  # noqa: E402
from verifier.challenge import get_challenge  # noqa: E402
from verifier.commitments import MerkleTree, leaf_hash  # noqa: E402
from verifier.models import load_model  # noqa: E402
from verifier.prf import H, sampler_us  # noqa: E402
from verifier.rollout import Rollout  # noqa: E402
from verifier.sampler import chat_prompt_ids, pad_token_id, sample_batch, task_problems  # noqa: E402
from verifier.verify import verify_rollouts  # noqa: E402


def cpu(fn, *args):
    start = time.process_time()
    out = fn(*args)
    return time.process_time() - start, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--tokens", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--P", type=int, default=4)
    ap.add_argument("--G", type=int, default=4)
    ap.add_argument("--m", type=int, default=4)
    ap.add_argument("--validators", type=int, default=1)
    ap.add_argument("--reps", type=int, default=2, help="audit repetitions (best of)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    model, tok = load_model(args.model)
    env = BasicArithmeticEnv()
    print(
        f"# audit cost, {args.model}, 1 thread, batch 8, CPU seconds per rollout; load average "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(
        "| new tokens | generation (prover b8) | audit k = 32 | audit every position | all / k=32 | audit/gen (all) |"
    )
    print("|---|---|---|---|---|---|")
    ratios = {}
    for n in args.tokens:
        task = bench_task(14_900 + n, n, 2, 4)
        problems = task_problems(env, task)
        pairs = [task.problem_and_rollout(i) for i in range(8)]
        prompts = [chat_prompt_ids(tok, env.messages(problems[p])) for p, _ in pairs]
        us = [sampler_us(task.seed_randomness, task.task_id, BENCH_MINER, p, g, n) for p, g in pairs]
        gen, comps = cpu(
            sample_batch, model, prompts, us, task.temperature, n, frozenset(), pad_token_id(tok)
        )
        rollouts = [
            Rollout(task.task_id, BENCH_MINER, p, g, tuple(prompts[j]), tuple(c.tokens), tuple(c.logprobs), 0)
            for j, ((p, g), c) in enumerate(zip(pairs, comps, strict=True))
        ]
        tree = MerkleTree.of_rollouts(rollouts)
        proofs = [tree.proof(leaf_hash(r)) for r in rollouts]
        audit = {}
        for k in (32, 0):
            t = replace(task, audit=replace(task.audit, rollouts=8, positions=k))
            ch = get_challenge(H("cost", n), t.task_id, BENCH_MINER, 8, t.audit)
            ordered = [rollouts[i] for i in ch.indices]
            ordered_proofs = [proofs[i] for i in ch.indices]
            best = math.inf
            for _ in range(args.reps):
                elapsed, v = cpu(verify_rollouts, model, tok, env, t, tree.root, ordered, ordered_proofs, ch)
                # Forced full length runs through EOS (the termination rule rejects it), and the reward
                # is not claimed; every sampler check must pass.
                assert all(f.check in ("termination", "reward") for f in v.failures), v.failures
                best = min(best, elapsed)
            audit[k] = best / 8
        g = gen / 8
        ratios[n] = audit[0] / g
        print(
            f"| {n} | {g:.2f} | {audit[32]:.3f} | {audit[0]:.3f} | {audit[0] / audit[32]:.2f} | {ratios[n]:.3f} |"
        )
    total = args.P * args.G
    for n, r in ratios.items():
        task_ratio = args.validators * min(args.m, total) * r / total
        print(
            f"per task, {n} tokens: V·m·a/(P·G·g) = {args.validators}·{min(args.m, total)}·{r:.3f}/{total} "
            f"= {task_ratio:.4f} (P = {args.P}, G = {args.G}, m = {args.m})"
        )


if __name__ == "__main__":
    main()
