"""SAPO experiment: isolated (I local / 0 external) vs swarm (I' local / J external) miners.

Each setting simulates M miners in one process: the miners share one base model, each with
its own LoRA adapter (same initial adapter seeds in both settings) and optimizer. Per round
every miner gets its own task (P = I problems, G completions each, generated with the
verifiable prover loop), all rollouts of the round go into a swarm pool, and every miner takes
one GRPO step on its own groups plus J groups drawn from the other miners' rollouts, which it
re-scores itself. The two settings run side by side in two processes (one torch thread each).

Prints per round the mean reward of the miners' own rollouts and, at the end, cumulative
reward (sum over rounds of the per-round mean) and held-out accuracy (one sample per
held-out problem per miner, same PRF draws for both settings) before and after training.

    .venv/bin/python bench/sapo.py --rounds 10 --out bench/out/sapo
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@dataclass
class BenchConfig:
    model: str = "smollm2"
    env: str = "basic_arithmetic"
    difficulty: int = 1
    miners: int = 4
    rounds: int = 10
    group_size: int = 2
    max_tokens: int = 24
    temperature_milli: int = 1000
    lora_rank: int = 8
    learning_rate: float = 1e-3
    heldout: int = 24
    seed: int = 0
    batch_size: int = 32
    out: str = "bench/out/sapo"
    settings: dict[str, tuple[int, int]] = field(
        default_factory=lambda: {"isolated": (8, 0), "swarm": (4, 4)}
    )


def _seed_bytes(*parts: object) -> bytes:
    return hashlib.sha256("/".join(str(p) for p in ("rollproof.bench.sapo", *parts)).encode()).digest()


def _miner_address(k: int) -> str:
    return "0x" + hashlib.sha256(f"miner{k}".encode()).hexdigest()[:40]


def _heldout_accuracy(model, tokenizer, env, cfg: BenchConfig, address: str) -> float:
    """Mean correctness on the held-out problems, one verifiable sample each."""
    from verifier.prf import problem_seed
    from verifier.rollout import TaskSpec
    from verifier.sampler import prove_rollouts

    task = TaskSpec(
        task_id=10**9,
        difficulty=cfg.difficulty,
        num_problems=cfg.heldout,
        rollouts_per_problem=1,
        max_tokens=cfg.max_tokens,
        temperature_milli=cfg.temperature_milli,
        seed_randomness=_seed_bytes("heldout", cfg.seed),
    )
    problems = env.generate(
        problem_seed(task.seed_randomness, task.task_id), task.num_problems, task.difficulty
    )
    rollouts = prove_rollouts(
        model, tokenizer, env, task, address, batch_size=cfg.batch_size, problems=problems
    )
    return sum(env.score_details(problems[r.p], r.completion)["correct"] for r in rollouts) / len(rollouts)


def run_setting(cfg: BenchConfig, name: str, eval_base: bool) -> dict:
    """Train cfg.miners miners for cfg.rounds rounds in one setting; returns the figures.

    The base model's held-out accuracy is the same for both settings (same model, same PRF
    draws), so only one process (`eval_base`) measures it."""
    import torch

    torch.set_num_threads(1)
    from node.envs import get_env
    from node.train import GRPOConfig, MetricsWriter, MinerLearner, SapoConfig
    from verifier.models import load_model, new_adapter

    num_local, num_external = cfg.settings[name]
    started = time.time()
    model, tokenizer = load_model(cfg.model)
    env = get_env(cfg.env)
    addresses = [_miner_address(k) for k in range(cfg.miners)]
    base_heldout = []
    if eval_base:
        with torch.no_grad():
            base_heldout = [_heldout_accuracy(model, tokenizer, env, cfg, a) for a in addresses]
        print(f"[{name}] base held-out accuracy {sum(base_heldout) / len(base_heldout):.3f}", flush=True)
    learners = []
    for k, address in enumerate(addresses):
        model = new_adapter(model, rank=cfg.lora_rank, seed=cfg.seed * 1000 + k, adapter_name=f"m{k}")
        sapo = SapoConfig(
            num_local=num_local,
            num_external=num_external,
            group_size=cfg.group_size,
            max_tokens=cfg.max_tokens,
            temperature_milli=cfg.temperature_milli,
            difficulty=cfg.difficulty,
            batch_size=cfg.batch_size,
            grpo=GRPOConfig(learning_rate=cfg.learning_rate),
        )
        learners.append(MinerLearner(model, tokenizer, env, address, sapo, f"m{k}", seed=cfg.seed * 1000 + k))
    writers = [MetricsWriter(Path(cfg.out) / "tensorboard", f"{name}/miner{k}") for k in range(cfg.miners)]
    for r in range(cfg.rounds):
        round_start = time.time()
        pools, problems = [], {}
        for k, learner in enumerate(learners):
            task = learner.task_for(task_id=r * 1000 + k, seed_randomness=_seed_bytes("task", cfg.seed, r, k))
            rollouts, task_problems = learner.generate(task)
            pools.append(rollouts)
            problems.update({(task.task_id, p.index): p for p in task_problems})
        for k, learner in enumerate(learners):
            swarm = [x for j, pool in enumerate(pools) if j != k for x in pool] if num_external else []
            metrics = learner.learn(r, problems, pools[k], swarm)
            writers[k].write(metrics)
        mean = sum(lr.history[-1].reward for lr in learners) / cfg.miners
        trained = sum(lr.history[-1].groups_trained for lr in learners)
        print(
            f"[{name}] round {r}: mean reward {mean:.3f}, groups trained {trained}, {time.time() - round_start:.0f} s",
            flush=True,
        )
        progress = {"setting": name, "history": [[asdict(m) for m in lr.history] for lr in learners]}
        (Path(cfg.out) / f"progress-{name}.json").write_text(json.dumps(progress))
    final_heldout = []
    for k in range(cfg.miners):
        model.set_adapter(f"m{k}")
        with torch.no_grad():
            final_heldout.append(_heldout_accuracy(model, tokenizer, env, cfg, addresses[k]))
    for w in writers:
        w.close()
    return {
        "setting": name,
        "local_external": [num_local, num_external],
        "history": [[asdict(m) for m in lr.history] for lr in learners],
        "base_heldout": base_heldout,
        "final_heldout": final_heldout,
        "adapter_hashes": ["0x" + lr.adapter_hash().hex() for lr in learners],
        "rescore_rejected": sum(lr.rescore.rejected for lr in learners),
        "seconds": time.time() - started,
    }


def _mean_curve(result: dict):
    """Per-round metrics averaged over miners, as RoundMetrics."""
    from node.train import RoundMetrics

    rounds = len(result["history"][0])
    keys = ("reward", "correct", "format", "loss", "completion_len")
    out = []
    for r in range(rounds):
        rows = [h[r] for h in result["history"]]
        values = {k: sum(row[k] for row in rows) / len(rows) for k in keys}
        trained = sum(row["groups_trained"] for row in rows)
        out.append(RoundMetrics(round=r, groups_trained=trained, **values))
    return out


def report(cfg: BenchConfig, results: list[dict]) -> str:
    from node.train import plot_curves

    curves = {res["setting"]: _mean_curve(res) for res in results}
    lines = [
        f"SAPO bench: model={cfg.model} env={cfg.env} difficulty={cfg.difficulty} miners={cfg.miners} "
        f"rounds={cfg.rounds} G={cfg.group_size} T={cfg.temperature_milli / 1000} max_tokens={cfg.max_tokens} "
        f"lora_rank={cfg.lora_rank} lr={cfg.learning_rate} seed={cfg.seed} heldout={cfg.heldout}",
        "",
        "round | " + " | ".join(f"{n} reward (correct)" for n in curves),
    ]
    for r in range(cfg.rounds):
        cells = [f"{c[r].reward:.3f} ({c[r].correct:.3f})" for c in curves.values()]
        lines.append(f"{r:5d} | " + " | ".join(cells))
    lines.append("")
    lines.append(
        "setting   I/J  cumulative reward  mean reward  first->last-3 reward  held-out before -> after  "
        "groups trained  seconds"
    )
    base = next(res["base_heldout"] for res in results if res["base_heldout"])
    for res in results:
        c = curves[res["setting"]]
        cum = sum(m.reward for m in c)
        tail = c[-3:] if len(c) >= 3 else c
        before = sum(base) / len(base)
        after = sum(res["final_heldout"]) / len(res["final_heldout"])
        lines.append(
            f"{res['setting']:9s} {res['local_external'][0]}/{res['local_external'][1]}  {cum:17.3f}  "
            f"{cum / len(c):11.3f}  {c[0].reward:.3f} -> {sum(m.reward for m in tail) / len(tail):.3f}        "
            f"{before:.3f} -> {after:.3f}            {sum(m.groups_trained for m in c):5d}  {res['seconds']:7.0f}"
        )
    plot = plot_curves(
        curves, Path(cfg.out) / "sapo.png", title=f"SAPO on {cfg.env} (mean over {cfg.miners} miners)"
    )
    lines.append("")
    lines.append(f"plot: {plot}; TensorBoard: {Path(cfg.out) / 'tensorboard'}")
    return "\n".join(lines)


def _parse(argv: list[str]) -> BenchConfig:
    d = BenchConfig()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name in ("model", "env", "out"):
        p.add_argument(f"--{name}", default=getattr(d, name))
    for name in (
        "difficulty",
        "miners",
        "rounds",
        "group_size",
        "max_tokens",
        "temperature_milli",
        "lora_rank",
    ):
        p.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(d, name))
    for name in ("heldout", "seed", "batch_size"):
        p.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(d, name))
    p.add_argument("--learning-rate", type=float, default=d.learning_rate)
    p.add_argument("--isolated", default="8,0", help="I,J of the isolated setting")
    p.add_argument("--swarm", default="4,4", help="I,J of the swarm setting")
    a = p.parse_args(argv)
    settings = {}
    for name in ("isolated", "swarm"):
        try:
            i, j = (int(x) for x in getattr(a, name).split(","))
        except ValueError:
            p.error(f"--{name} must be two integers I,J such as 8,0")
        settings[name] = (i, j)
    fields = {k: v for k, v in vars(a).items() if k not in ("isolated", "swarm")}
    return BenchConfig(settings=settings, **fields)


def main(argv: list[str]) -> int:
    cfg = _parse(argv)
    Path(cfg.out).mkdir(parents=True, exist_ok=True)
    print(f"config: {json.dumps(asdict(cfg))}", flush=True)
    # One process per setting so both settings see the same (shared, noisy) machine load.
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(len(cfg.settings)) as pool:
        # The setting with the fewest local rollouts per round has time to spare for the base eval.
        cheapest = min(cfg.settings, key=lambda n: cfg.settings[n][0])
        results = pool.starmap(run_setting, [(cfg, name, name == cheapest) for name in cfg.settings])
    (Path(cfg.out) / "results.json").write_text(
        json.dumps({"config": asdict(cfg), "results": results}, indent=1)
    )
    text = report(cfg, results)
    (Path(cfg.out) / "report.txt").write_text(text + "\n")
    print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
