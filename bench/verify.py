"""Verifier figures: `python bench/verify.py [--model smollm2|tiny|PATH] [--quick]`.

Thin wrapper over verifier.bench.run_verify_bench (also wired as `rollproof bench verify`).
Prints tables; the last line is `audit cost / generation cost per task: X`.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from verifier.bench import BenchConfig, run_verify_bench  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--no-calibrate", action="store_true")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--costs-only", action="store_true", help="only the cost figures (no detection)")
    parser.add_argument("--reps", type=int, default=2, help="timing repetitions (best of)")
    args = parser.parse_args()
    cfg = BenchConfig(
        model=args.model,
        threads=args.threads,
        batch=args.batch,
        calibrate=not args.no_calibrate,
        costs_only=args.costs_only,
        cost_reps=args.reps,
    )
    if args.quick:
        cfg.new_tokens = (16,)
        cfg.default_tokens = 16
        cfg.calibration_rollouts = 4
        cfg.calibration_tokens = 16
        cfg.honest_tiny = 32
        cfg.detection_trials = 20
        cfg.cost_reps = 1
    run_verify_bench(cfg)


if __name__ == "__main__":
    main()
