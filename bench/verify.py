"""`rollproof bench verify` (or `python -m bench.verify`): the verifier's figures, side by side.

Sections: calibration of honest deviations (SmolLM2), prover vs transformers `generate`, the
prover's logprob-recording overhead, one prefill audit vs generation per rollout, the per-task
audit/generation cost at the default parameters, honest false rejections, and detection of
cheaters (per audited rollout, then per task by simulation with real cheating rollouts, next to
the formula). Timings are printed, never asserted. The last line is
`audit cost / generation cost per task: X`.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import torch

from bench.cheaters import CHEATS, cheat_rollouts
from bench.verify_costs import section_costs
from bench.workload import BENCH_MINER, BasicArithmeticEnv, audit_all, bench_task
from verifier.challenge import get_challenge
from verifier.commitments import MerkleTree, leaf_hash
from verifier.params import AuditParams
from verifier.prf import H, sample_indices
from verifier.rollout import Rollout, TaskSpec
from verifier.sampler import (
    prove_rollouts,
    task_problems,
)
from verifier.verify import Prefill, verify_rollouts


def detection_formula(total: int, cheating: int, audited: int, per_rollout: float) -> float:
    """P(catch) = 1 - Σ_j Hypergeom(j; total, cheating, audited) · (1 - d)^j."""
    audited = min(audited, total)
    miss = 0.0
    for j in range(0, min(cheating, audited) + 1):
        ways = math.comb(cheating, j) * math.comb(total - cheating, audited - j)
        miss += ways / math.comb(total, audited) * (1.0 - per_rollout) ** j
    return 1.0 - miss


def audit_count_for(total: int, cheating: int, per_rollout: float, target: float) -> int:
    """The smallest audit count m with detection_formula(...) >= target."""
    for m in range(1, total + 1):
        if detection_formula(total, cheating, m, per_rollout) >= target:
            return m
    return total


@dataclass
class BenchConfig:
    model: str = "smollm2"
    threads: int = 1
    batch: int = 8  # the miner's decode batch
    new_tokens: tuple[int, ...] = (128, 256)
    default_tokens: int = 128  # max tokens of the default task for the per-task figure
    num_problems: int = 8  # P of the default task
    rollouts_per_problem: int = 8  # G
    audit: AuditParams = field(default_factory=AuditParams)  # the default task's (m, k, tolerances)
    validators: int = 1
    calibrate: bool = True
    cost_reps: int = 2
    costs_only: bool = False  # skip honest-rejection and detection sections (for re-measuring costs)
    smollm2_detection: bool = True
    calibration_rollouts: int = 32
    calibration_tokens: int = 128
    honest_tiny: int = 1000
    detection_trials: int = 200


# ---------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------


def section_calibration(
    model, tokenizer, env, cfg: BenchConfig, out: Callable[[str], None]
) -> list[tuple[TaskSpec, list[Rollout]]]:
    from bench.calibration import TABLE_HEADER, PrefillSetting, measure_deviation, recommend_tolerances

    n = cfg.calibration_rollouts
    task = bench_task(101, cfg.calibration_tokens, max(1, n // 4), 4, audit=cfg.audit)
    torch.set_num_threads(cfg.threads)
    rollouts = prove_rollouts(model, tokenizer, env, task, BENCH_MINER, batch_size=cfg.batch)[:n]
    short_task = bench_task(102, 32, 2, 4, audit=cfg.audit)
    short = prove_rollouts(model, tokenizer, env, short_task, BENCH_MINER, batch_size=1)
    settings = [
        PrefillSetting("batch 8, right padding, 1 thread (default)"),
        PrefillSetting("batch 1", batch=1),
        PrefillSetting("batch 8, left padding", padding="left"),
        PrefillSetting("batch 8, 2 threads", threads=2),
        PrefillSetting("bf16 prefill (fp32 prover)", dtype=torch.bfloat16),
    ]
    out(
        f"## calibration: {len(rollouts)} rollouts of <= {task.max_tokens} tokens, prover batch {cfg.batch}, "
        f"left padding, {cfg.threads} thread(s), fp32, T = {task.temperature}"
    )
    out(TABLE_HEADER)
    deviations = []
    for s in settings:
        d = measure_deviation(model, tokenizer, task, rollouts, s)
        out(d.row())
        if s.dtype == torch.float32:
            deviations.append(d)
    d = measure_deviation(
        model, tokenizer, short_task, short, PrefillSetting("prover batch 1, short (<= 32)")
    )
    out(d.row())
    deviations.append(d)
    rec = recommend_tolerances(deviations)
    out(
        f"recommended tolerances (10x worst fp32 deviation, floors 1e-4 / 1e-5): logprob {rec.logprob_tol:.2e}, "
        f"cdf slack {rec.edge_slack:.2e}; in force: logprob {cfg.audit.logprob_tol:.2e}, "
        f"cdf slack {cfg.audit.edge_slack:.2e}"
    )
    return [(task, rollouts), (short_task, short)]


def section_honest(
    model,
    tokenizer,
    env,
    rollouts: Sequence[Rollout],
    label: str,
    task: TaskSpec,
    cfg: BenchConfig,
    out: Callable[[str], None],
) -> tuple[int, int]:
    verdicts = audit_all(
        model, tokenizer, env, replace(task, audit=replace(task.audit, positions=0)), rollouts
    )
    rejected = sum(not v.passed for v in verdicts)
    out(f"honest {label}: {rejected} false rejections in {len(verdicts)} rollouts (every token checked)")
    return rejected, len(verdicts)


def detection_rates(
    model, tokenizer, env, task: TaskSpec, cfg: BenchConfig, out: Callable[[str], None], label: str
) -> tuple[dict[str, float], dict[str, list[Rollout]]]:
    """Per audited rollout detection rate of each cheat (every rollout of the cheater audited)."""
    out(
        f"## per-rollout detection ({label}, {task.max_tokens} tokens, T = {task.temperature}, "
        f"k = {task.audit.positions or 'all'})"
    )
    out("| cheat | audited rollouts | caught | per-rollout detection d | failed checks |")
    out("|---|---|---|---|---|")
    rates: dict[str, float] = {}
    cheaters: dict[str, list[Rollout]] = {}
    for name in CHEATS:
        rs = cheat_rollouts(name, model, tokenizer, env, task, BENCH_MINER)
        verdicts = audit_all(model, tokenizer, env, task, rs)
        caught = sum(not v.passed for v in verdicts)
        checks = sorted({c for v in verdicts for c in v.failed_checks()})
        rates[name] = caught / len(verdicts)
        cheaters[name] = rs
        out(f"| {name} | {len(verdicts)} | {caught} | {rates[name]:.3f} | {', '.join(checks)} |")
    return rates, cheaters


def section_detection(model, tokenizer, env, cfg: BenchConfig, out: Callable[[str], None]) -> None:
    """Per audited rollout detection of each cheat, then per task/10 tasks by simulation vs formula."""
    task = bench_task(300, 24, cfg.num_problems, cfg.rollouts_per_problem, audit=cfg.audit)
    total = task.total_rollouts
    rates, cheaters = detection_rates(model, tokenizer, env, task, cfg, out, "tiny model")
    honest = prove_rollouts(model, tokenizer, env, task, BENCH_MINER, batch_size=8)
    sim_cheat = "greedy decoding"
    d = rates[sim_cheat]
    out(
        f"### per task: miner cheats ({sim_cheat}) on a fraction f of its {total} rollouts; "
        f"{cfg.detection_trials} simulated tasks each (real rollouts, real challenges)"
    )
    out(
        "| f | cheating rollouts | simulated P(1 task) | formula P(1 task) | simulated P(10 tasks) | formula P(10 tasks) |"
    )
    out("|---|---|---|---|---|---|")
    problems = task_problems(env, task)
    for f in (0.01, 0.10, 0.50, 1.00):
        c = max(1, math.ceil(f * total))
        caught = []
        for trial in range(cfg.detection_trials):
            bad = set(sample_indices(H("cheat-set", trial, c), total, c))
            rs = [cheaters[sim_cheat][i] if i in bad else honest[i] for i in range(total)]
            tree = MerkleTree.of_rollouts(rs)
            ch = get_challenge(H("trial-beacon", trial), task.task_id, BENCH_MINER, total, task.audit)
            audited = [rs[it.index] for it in ch.items]
            v = verify_rollouts(
                model,
                tokenizer,
                env,
                task,
                tree.root,
                audited,
                [tree.proof(leaf_hash(r)) for r in audited],
                ch,
                Prefill(),
                problems,
            )
            caught.append(not v.passed)
        sim1 = sum(caught) / len(caught)
        groups = [caught[i : i + 10] for i in range(0, len(caught) - 9, 10)]
        # 10-task figures need at least 10 trials; fewer (a smoke run) leaves that column empty.
        sim10 = f"{sum(any(g) for g in groups) / len(groups):.3f}" if groups else "n/a"
        p1 = detection_formula(total, c, task.audit.rollouts, d)
        out(f"| {f:.2f} | {c} | {sim1:.3f} | {p1:.3f} | {sim10} | {1 - (1 - p1) ** 10:.3f} |")
    for target in (0.5, 0.9, 0.99):
        out(
            f"audit count for P(catch 1 cheating rollout of {total}) >= {target}: "
            f"m = {audit_count_for(total, 1, d, target)}"
        )


def run_verify_bench(cfg: BenchConfig | None = None, out: Callable[[str], None] = print) -> float:
    """Run every section; returns (and prints last) the per-task audit/generation cost ratio."""
    from verifier.models import load_model, tiny_model

    cfg = cfg or BenchConfig()
    torch.set_num_threads(cfg.threads)
    env = BasicArithmeticEnv()
    out(f"# rollproof bench verify: model {cfg.model}, {cfg.threads} thread(s), miner batch {cfg.batch}")
    model, tokenizer = load_model(cfg.model)
    calibrated: list[tuple[TaskSpec, list[Rollout]]] = []
    if cfg.calibrate:
        calibrated = section_calibration(model, tokenizer, env, cfg, out)
    figures = section_costs(model, tokenizer, env, cfg, out)
    if not cfg.costs_only:
        for task, rs in calibrated:
            section_honest(model, tokenizer, env, rs, f"{cfg.model} task {task.task_id}", task, cfg, out)
        if cfg.smollm2_detection and cfg.model != "tiny":
            det_task = bench_task(500, cfg.calibration_tokens // 4, 2, 4, audit=cfg.audit)
            honest_det = prove_rollouts(model, tokenizer, env, det_task, BENCH_MINER, batch_size=cfg.batch)
            section_honest(model, tokenizer, env, honest_det, f"{cfg.model} task 500", det_task, cfg, out)
            detection_rates(model, tokenizer, env, det_task, cfg, out, cfg.model)
        tiny, tiny_tok = tiny_model(seed=0)
        honest_task = bench_task(400, 24, max(1, cfg.honest_tiny // 8), 8, audit=cfg.audit)
        honest = prove_rollouts(tiny, tiny_tok, env, honest_task, BENCH_MINER, batch_size=16)[
            : cfg.honest_tiny
        ]
        section_honest(tiny, tiny_tok, env, honest, "tiny model", honest_task, cfg, out)
        section_detection(tiny, tiny_tok, env, cfg, out)
    per = figures.get(cfg.default_tokens) or next(iter(figures.values()))
    total = cfg.num_problems * cfg.rollouts_per_problem
    audit_cost = cfg.validators * cfg.audit.audited_count(total) * per["audit_bb"]
    gen_cost = total * per["prover_bb"]
    ratio = audit_cost / gen_cost
    out(
        f"default task: P = {cfg.num_problems}, G = {cfg.rollouts_per_problem}, {cfg.default_tokens} tokens, "
        f"m = {cfg.audit.rollouts}, k = {cfg.audit.positions or 'all'}, validators = {cfg.validators}; audit {audit_cost:.2f} s vs "
        f"generation {gen_cost:.2f} s per miner"
    )
    out("every validator audits the same challenge: with V validators the ratio is V times the figure below")
    out(f"audit cost / generation cost per task: {ratio:.4f}")
    return ratio


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model comes from the local cache only
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
