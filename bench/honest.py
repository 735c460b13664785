"""Honest false-rejection rate of the verifier with the real model, at scale.

Generates N honest SmolLM2 rollouts with the prover (miner batch 8) in chunks of tasks, then
audits every generated token of every rollout (validator prefill batch 8) under the default
task's AuditParams (verifier/params.py) and prints the false rejections.

    .venv/bin/python bench/honest.py --rollouts 1000 --tokens 48

With `--kernels` (also `rollproof bench honest --kernels`): cross-kernel calibration instead —
generate under every available ATen CPU capability and thread count 1-2, verify under the others,
report the deviations, the tolerance they give and the detection floor (verifier/kernels.py).

    .venv/bin/python bench/honest.py --kernels --rollouts 16 --tokens 64
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


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
        from verifier.kernels import run_bf16_bench

        run_bf16_bench(args.model, args.rollouts, args.tokens)
        return
    if args.kernels:
        from verifier.kernels import run_kernels_bench

        run_kernels_bench(
            args.model, args.rollouts, args.tokens, floor_rollouts=args.floor_rollouts, keep=args.keep
        )
        return
    from verifier.kernels import run_honest_bench

    run_honest_bench(args.model, args.rollouts, args.tokens, args.threads, args.per_task)


if __name__ == "__main__":
    main()
