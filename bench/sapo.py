"""SAPO experiment: does the swarm learn better than alone? (docs/LEARNING.md §4-§5)

One job = one setting x one seed. A job simulates M miners in one process: the miners share
one base model, each with its own LoRA adapter (adapter seeds depend on the seed only, so the
settings start from the same adapters) and optimizer. Per round every miner gets its own task
(I problems, G completions each, generated with the verifiable prover loop; task seeds depend
on (seed, round, miner) only, so a setting with fewer local problems sees a prefix of another
setting's problems), all rollouts of the round go into a swarm pool, and every miner takes
one GRPO step on its own groups plus J groups drawn from the other miners' rollouts, which it
re-scores itself.

Settings (name=I,J): `iso8=8,0` and `swarm=4,4` train on the same number of problems per
step (equal problems); `iso4=4,0` and `swarm=4,4` generate the same number of rollouts per
round (equal generation compute). Comparisons are paired by seed: per seed the difference
swarm - isolated, then a bootstrap confidence interval of the mean difference over seeds.

Reported per job: the mean reward of the miners' own rollouts per round; cumulative reward
(sum over rounds of the per-round mean); held-out accuracy (greedy by default, or one
verifiable sample per problem with `--eval sample`; the same problems in every setting)
before training, every `--eval-every` rounds and after the last round. The statistics are
bench/stats.py's; every report prints job-rounds per hour with the load average beside it.

A round is cheap (docs/LEARNING.md §6): all miners' rollouts decode in one batch with their
own adapters and a shared-prefix KV cache (`--generation batched`, node/train/batched.py;
`--generation prover` runs the verifiable prover loop per miner instead), and a GRPO step
packs its groups into one forward/backward (`--micro-batch`).

    .venv/bin/python -m bench.sapo --seeds 5 --rounds 100 --out bench/out/sapo
    bench/gpu_learning.sh            (the full design on CUDA, bf16 training; --small on CPU)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench import stats  # noqa: E402
from bench.stats import cumulative_reward, final_heldout, per_round_rewards  # noqa: E402

DEFAULT_SETTINGS = {"iso8": (8, 0), "swarm": (4, 4), "iso4": (4, 0)}
# (treatment, control, what is held equal)
COMPARISONS = (("swarm", "iso8", "equal problems per step"), ("swarm", "iso4", "equal generation compute"))


@dataclass
class BenchConfig:
    model: str = "smollm2"
    env: str = "basic_arithmetic"
    difficulty: int = 1
    miners: int = 4
    rounds: int = 10
    group_size: int = 4
    max_tokens: int = 24
    temperature_milli: int = 1000
    lora_rank: int = 8
    learning_rate: float = 1e-3
    heldout: int = 64
    eval_every: int = 0  # 0: held-out only before and after
    seeds: int = 1
    first_seed: int = 0
    micro_batch: int = 64  # completions per GRPO forward/backward (whole groups packed together)
    batch_size: int = 64  # rows per decode batch (all miners' rows together when batched)
    generation: str = "batched"  # batched (node/train/batched.py) | prover (verifier.sampler per miner)
    eval: str = "greedy"  # greedy (batched argmax) | sample (one PRF sample per problem)
    device: str = "cpu"
    train_dtype: str = "float32"  # the proof's fp32 rule is for committed rollouts, not this bench
    workers: int = 2
    threads: int = 1  # torch threads per job
    bootstrap: int = 10_000
    deadline_s: int = 0  # > 0: a job starts no round after this many seconds (rounds done are reported)
    resume: bool = False  # reuse finished jobs saved under out/jobs by an earlier run of this design
    out: str = "bench/out/sapo"
    settings: dict[str, tuple[int, int]] = field(default_factory=lambda: dict(DEFAULT_SETTINGS))


def _seed_bytes(*parts: object) -> bytes:
    return hashlib.sha256("/".join(str(p) for p in ("rollproof.bench.sapo", *parts)).encode()).digest()


def _miner_address(k: int) -> str:
    return "0x" + hashlib.sha256(f"miner{k}".encode()).hexdigest()[:40]


def _heldout_task(cfg: BenchConfig, seed: int):
    from verifier.rollout import TaskSpec

    return TaskSpec(
        task_id=10**9,
        difficulty=cfg.difficulty,
        num_problems=cfg.heldout,
        rollouts_per_problem=1,
        max_tokens=cfg.max_tokens,
        temperature_milli=cfg.temperature_milli,
        seed_randomness=_seed_bytes("heldout", seed),
    )


def _heldout_prover(model, tokenizer, env, cfg: BenchConfig, seed: int, address: str, problems) -> float:
    """Mean correctness on the held-out problems, one verifiable (PRF) sample each."""
    from verifier.sampler import prove_rollouts

    rollouts = prove_rollouts(
        model, tokenizer, env, _heldout_task(cfg, seed), address, batch_size=cfg.batch_size, problems=problems
    )
    return sum(env.score_details(problems[r.p], r.completion)["correct"] for r in rollouts) / len(rollouts)


def heldout_accuracies(
    model, tokenizer, env, cfg: BenchConfig, seed: int, addresses: list[str], *, untrained: bool = False
) -> list[float]:
    """Per miner (adapter m<k>): mean correctness on the seed's held-out problems.

    `--eval greedy` (default): the argmax completion, all miners' rows in one batched decode;
    `--eval sample`: one verifiable sample per problem (the PRF draws of the prover loop).
    `untrained`: every adapter is still the base model (LoRA B = 0), so under greedy decoding
    one miner's accuracy is every miner's; only m0 is decoded (a quarter of the cost)."""
    import torch

    from verifier.prf import problem_seed
    from verifier.sampler import chat_prompt_ids, eos_token_ids, pad_token_id

    task = _heldout_task(cfg, seed)
    problems = env.generate(
        problem_seed(task.seed_randomness, task.task_id), task.num_problems, task.difficulty
    )
    model.eval()
    if cfg.eval == "sample":
        out = []
        for k, address in enumerate(addresses):
            model.set_adapter(f"m{k}")
            with torch.no_grad():
                out.append(_heldout_prover(model, tokenizer, env, cfg, seed, address, problems))
        return out
    from node.train.batched import Row, decode_in_chunks

    prompts = [tuple(chat_prompt_ids(tokenizer, env.messages(p))) for p in problems]
    decoded = 1 if untrained else len(addresses)
    rows = [Row(prompt, f"m{k}") for k in range(decoded) for prompt in prompts]
    done = decode_in_chunks(
        model, rows, task.temperature, task.max_tokens, eos_token_ids(tokenizer), pad_token_id(tokenizer),
        chunk=cfg.batch_size,
    )  # fmt: skip
    correct = [
        env.score_details(problems[i % len(problems)], tokenizer.decode(c.tokens, skip_special_tokens=True))[
            "correct"
        ]
        for i, c in enumerate(done)
    ]
    n = len(problems)
    accuracies = [sum(correct[k * n : (k + 1) * n]) / n for k in range(decoded)]
    return accuracies * len(addresses) if untrained else accuracies


def generate_round(model, tokenizer, env, cfg: BenchConfig, learners, tasks) -> list[list]:
    """Every miner's rollouts for its task: one batched decode across miners (`--generation
    batched`, node/train/batched.py, the prover's PRF draws) or the prover loop per miner."""
    from verifier.prf import sampler_us
    from verifier.rollout import Rollout, reward_to_micro
    from verifier.sampler import chat_prompt_ids, eos_token_ids, pad_token_id, task_problems

    if cfg.generation == "prover":
        return [learner.generate(task)[0] for learner, task in zip(learners, tasks, strict=True)]
    from node.train.batched import Row, decode_in_chunks

    model.eval()
    rows, meta = [], []
    for learner, task in zip(learners, tasks, strict=True):
        problems = task_problems(env, task)
        for p, problem in enumerate(problems):
            prompt = tuple(chat_prompt_ids(tokenizer, env.messages(problem)))
            for g in range(task.rollouts_per_problem):
                us = tuple(
                    sampler_us(task.seed_randomness, task.task_id, learner.address, p, g, task.max_tokens)
                )
                rows.append(Row(prompt, learner.adapter_name, us))
                meta.append((learner, task, problem, p, g))
    done = decode_in_chunks(
        model, rows, tasks[0].temperature, tasks[0].max_tokens, eos_token_ids(tokenizer), pad_token_id(tokenizer),
        chunk=cfg.batch_size,
    )  # fmt: skip
    pools: dict[str, list] = {learner.address: [] for learner in learners}
    for row, (learner, task, problem, p, g), c in zip(rows, meta, done, strict=True):
        text = tokenizer.decode(c.tokens, skip_special_tokens=True)
        pools[learner.address].append(
            Rollout(
                task.task_id,
                learner.address,
                p,
                g,
                row.prompt,
                tuple(c.tokens),
                tuple(c.logprobs),
                reward_to_micro(env.score(problem, text)),
                text,
            )
        )
    return [pools[learner.address] for learner in learners]


def _dtype(name: str):
    import torch

    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]
    except KeyError:
        raise ValueError(f"--train-dtype must be float32, bfloat16 or float16, not {name!r}") from None


def run_job(cfg: BenchConfig, name: str, seed: int) -> dict:
    """Train cfg.miners miners for cfg.rounds rounds in one setting with one seed."""
    import torch

    torch.set_num_threads(cfg.threads)
    from node.envs import get_env
    from node.train import GRPOConfig, MinerLearner, SapoConfig
    from verifier.models import load_model, new_adapter
    from verifier.sampler import task_problems

    num_local, num_external = cfg.settings[name]
    started = time.time()
    model, tokenizer = load_model(cfg.model, dtype=_dtype(cfg.train_dtype))
    model = model.to(cfg.device)
    env = get_env(cfg.env)
    addresses = [_miner_address(k) for k in range(cfg.miners)]

    def heldout(untrained: bool = False) -> list[float]:
        accuracies = heldout_accuracies(model, tokenizer, env, cfg, seed, addresses, untrained=untrained)
        print(
            f"[{name} seed {seed}] held-out ({cfg.heldout} problems): "
            + " ".join(f"{a:.3f}" for a in accuracies),
            flush=True,
        )
        return accuracies

    learners = []
    for k, address in enumerate(addresses):
        model = new_adapter(model, rank=cfg.lora_rank, seed=seed * 1000 + k, adapter_name=f"m{k}")
        sapo = SapoConfig(
            num_local=num_local,
            num_external=num_external,
            group_size=cfg.group_size,
            max_tokens=cfg.max_tokens,
            temperature_milli=cfg.temperature_milli,
            difficulty=cfg.difficulty,
            batch_size=cfg.batch_size,
            grpo=GRPOConfig(learning_rate=cfg.learning_rate, micro_batch=cfg.micro_batch),
        )
        learners.append(MinerLearner(model, tokenizer, env, address, sapo, f"m{k}", seed=seed * 1000 + k))
    # LoRA B starts at zero, so before training every adapter is the base model.
    curve = [(0, heldout(untrained=True))]
    round_seconds = []
    for r in range(cfg.rounds):
        if cfg.deadline_s and time.time() - started > cfg.deadline_s:
            print(f"[{name} seed {seed}] deadline: stopped after {r} of {cfg.rounds} rounds", flush=True)
            break
        round_start = time.time()
        tasks = [
            learner.task_for(task_id=r * 1000 + k, seed_randomness=_seed_bytes("task", seed, r, k))
            for k, learner in enumerate(learners)
        ]
        problems = {(t.task_id, p.index): p for t in tasks for p in task_problems(env, t)}
        pools = generate_round(model, tokenizer, env, cfg, learners, tasks)
        for k, learner in enumerate(learners):
            swarm = [x for j, pool in enumerate(pools) if j != k for x in pool] if num_external else []
            learner.learn(r, problems, pools[k], swarm)
        round_seconds.append(time.time() - round_start)
        mean = sum(lr.history[-1].reward for lr in learners) / cfg.miners
        print(
            f"[{name} seed {seed}] round {r}: mean reward {mean:.3f}, {round_seconds[-1]:.1f} s", flush=True
        )
        if cfg.eval_every and (r + 1) % cfg.eval_every == 0 and r + 1 < cfg.rounds:
            curve.append((r + 1, heldout()))
    if curve[-1][0] != len(round_seconds):
        curve.append((len(round_seconds), heldout()))
    return {
        "setting": name,
        "seed": seed,
        "local_external": [num_local, num_external],
        "history": [[asdict(m) for m in lr.history] for lr in learners],
        "heldout_curve": curve,
        "round_seconds": round_seconds,
        "generated_rollouts_per_round": cfg.miners * num_local * cfg.group_size,
        "rescore_rejected": sum(lr.rescore.rejected for lr in learners),
        "seconds": time.time() - started,
    }


# ---- report -------------------------------------------------------------------------------


def mean(xs) -> float:
    xs = list(xs)
    return sum(xs) / len(xs)


def load_text(samples: list[tuple[float, float, float]]) -> str:
    """The machine load during the run, next to every timing (timings on a shared machine lie)."""
    ones = [s[0] for s in samples]
    return (
        f"load average (1 min) during the run: min {min(ones):.1f}, mean {mean(ones):.1f}, max {max(ones):.1f} "
        f"over {len(ones)} samples; {os.cpu_count()} CPUs"
    )


def report(cfg: BenchConfig, jobs: list[dict], load: list[tuple[float, float, float]] | None = None,
           wall: float | None = None, ran: list[dict] | None = None) -> str:  # fmt: skip
    """`ran`: the jobs this invocation ran (the rest were resumed); the rate counts only those."""
    load = load or [os.getloadavg()]
    lines = [
        f"SAPO bench: model={cfg.model} env={cfg.env} difficulty={cfg.difficulty} miners={cfg.miners} "
        f"rounds={cfg.rounds} G={cfg.group_size} T={cfg.temperature_milli / 1000} max_tokens={cfg.max_tokens} "
        f"lora_rank={cfg.lora_rank} lr={cfg.learning_rate} heldout={cfg.heldout} ({cfg.eval}) seeds={cfg.seeds} "
        f"device={cfg.device} train_dtype={cfg.train_dtype} generation={cfg.generation} "
        f"workers={cfg.workers} threads={cfg.threads}",
        "",
        "setting  I/J   seeds  cumulative reward (mean over seeds)  held-out before -> after  s/round  rounds/h/job",
    ]
    for name in cfg.settings:
        mine = [j for j in jobs if j["setting"] == name]
        if not mine:
            continue
        sec = mean(s for j in mine for s in j["round_seconds"])
        lines.append(
            f"{name:8s} {mine[0]['local_external'][0]}/{mine[0]['local_external'][1]}  {len(mine):5d}  "
            f"{mean(cumulative_reward(j) for j in mine):35.3f}  "
            f"{mean(mean(j['heldout_curve'][0][1]) for j in mine):.3f} -> {mean(final_heldout(j) for j in mine):.3f}"
            f"           {sec:6.1f}  {3600 / max(sec, 1e-9):8.1f}"
        )
    lines += ["", "paired by seed, treatment - control, mean [95 % interval]:"]
    lines += stats.comparison_lines(jobs, COMPARISONS, cfg.bootstrap)
    ran = jobs if ran is None else ran
    job_rounds = sum(len(j["round_seconds"]) for j in ran)
    lines += [""]
    if len(ran) < len(jobs):
        lines.append(f"{len(jobs) - len(ran)} of {len(jobs)} jobs resumed from an earlier run (--resume)")
    if wall and ran:
        lines.append(
            f"rounds per hour: {3600 * job_rounds / wall:.1f} job-rounds/h over the {len(ran)} jobs run now "
            f"({job_rounds} job-rounds, including held-out evaluations, in {wall:.0f} s wall)"
        )
    lines.append(load_text(load))
    plot = plot_bands(cfg, jobs, Path(cfg.out) / "sapo.png")
    lines += [f"plot: {plot}"]
    return "\n".join(lines)


def plot_bands(cfg: BenchConfig, jobs: list[dict], path: Path) -> Path:
    """Per setting: the across-seed mean of the per-round reward and of held-out accuracy,
    with a band of +-1 standard error across seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_r, ax_h) = plt.subplots(1, 2, figsize=(10, 3.6))
    for name in cfg.settings:
        mine = [j for j in jobs if j["setting"] == name]
        if not mine:
            continue
        curves = [per_round_rewards(j) for j in mine]
        _band(ax_r, list(range(len(curves[0]))), curves, name)
        xs = [x for x, _ in mine[0]["heldout_curve"]]
        _band(ax_h, xs, [[mean(acc) for _, acc in j["heldout_curve"]] for j in mine], name)
    ax_r.set_title("mean reward of own rollouts")
    ax_h.set_title(f"held-out accuracy ({cfg.heldout} problems)")
    for ax in (ax_r, ax_h):
        ax.set_xlabel("round")
    ax_r.legend()
    fig.suptitle(f"SAPO on {cfg.env} level {cfg.difficulty}: {cfg.miners} miners, {len(jobs)} jobs")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _band(ax, xs: list[int], curves: list[list[float]], label: str) -> None:
    n = len(curves)
    m = [mean(c[i] for c in curves) for i in range(len(xs))]
    if n > 1:
        se = [(sum((c[i] - m[i]) ** 2 for c in curves) / (n - 1) / n) ** 0.5 for i in range(len(xs))]
    else:
        se = [0.0] * len(xs)
    (line,) = ax.plot(xs, m, label=label)
    ax.fill_between(
        xs,
        [a - b for a, b in zip(m, se, strict=True)],
        [a + b for a, b in zip(m, se, strict=True)],
        alpha=0.25,
        color=line.get_color(),
    )


# ---- command line ------------------------------------------------------------------------


_HELP = {
    "model": "smollm2 (SmolLM2-135M-Instruct from the local GGUF), tiny (random-init, for tests) or a local model folder",
    "env": "reasoning-gym task the problems come from",
    "out": "folder for results.json, report.txt, sapo.png and jobs/ (one file per finished job)",
    "device": "torch device: cpu, cuda, cuda:1, ...",
    "train_dtype": "dtype the model is loaded in for the whole job: float32, bfloat16 or float16 (half precision is meant for CUDA)",
    "generation": "batched: all miners decode in one batch; prover: the verifiable prover loop per miner",
    "eval": "held-out scoring: greedy (argmax) or sample (one PRF sample per problem)",
    "difficulty": "task difficulty passed to the environment",
    "miners": "miners simulated per job (M)",
    "rounds": "rounds per job; each miner takes one GRPO step per round",
    "group_size": "completions per problem (G, >= 2)",
    "max_tokens": "new tokens per completion",
    "temperature_milli": "sampling temperature x 1000",
    "lora_rank": "rank of each miner's LoRA adapter",
    "learning_rate": "AdamW learning rate of the adapters",
    "heldout": "held-out problems, the same in every setting of a seed",
    "eval_every": "also measure held-out accuracy every N rounds (0: only before and after)",
    "seeds": "seeds per setting; comparisons are paired by seed",
    "first_seed": "first seed (seeds run first_seed .. first_seed+seeds-1)",
    "batch_size": "rows per decode batch",
    "micro_batch": "completions per GRPO forward/backward",
    "workers": "jobs run in parallel (processes)",
    "threads": "torch threads per job",
    "bootstrap": "bootstrap resamples for the confidence intervals",
    "deadline_s": "a job starts no round after this many seconds (0: no deadline); rounds done are reported",
}


def _parse(argv: list[str]) -> BenchConfig:
    d = BenchConfig()
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    for name in ("model", "env", "out", "device", "train_dtype"):
        p.add_argument(f"--{name.replace('_', '-')}", default=getattr(d, name), help=_HELP[name])
    p.add_argument(
        "--generation", choices=("batched", "prover"), default=d.generation, help=_HELP["generation"]
    )
    p.add_argument("--eval", choices=("greedy", "sample"), default=d.eval, help=_HELP["eval"])
    for name in (
        "difficulty", "miners", "rounds", "group_size", "max_tokens", "temperature_milli", "lora_rank",
        "heldout", "eval_every", "seeds", "first_seed", "batch_size", "micro_batch", "workers", "threads", "bootstrap", "deadline_s",
    ):  # fmt: skip
        p.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(d, name), help=_HELP[name])
    p.add_argument("--learning-rate", type=float, default=d.learning_rate, help=_HELP["learning_rate"])
    p.add_argument(
        "--resume",
        action="store_true",
        help="reuse the finished jobs saved under OUT/jobs by an earlier run of the same design",
    )
    p.add_argument(
        "--settings",
        default=",".join(f"{n}={i}/{j}" for n, (i, j) in DEFAULT_SETTINGS.items()),
        help="name=I/J,... (I local problems generated and trained on, J external groups per step)",
    )
    a = p.parse_args(argv)
    settings = {}
    for item in a.settings.split(","):
        try:
            name, ij = item.split("=")
            i, j = (int(x) for x in ij.split("/"))
        except ValueError:
            p.error(f"--settings takes name=I/J items separated by commas, such as swarm=4/4, not {item!r}")
        if i < 1 or j < 0:
            p.error(f"setting {name}: I must be >= 1 and J >= 0")
        settings[name] = (i, j)
    for name in ("miners", "rounds", "group_size", "max_tokens", "heldout", "seeds", "workers", "threads"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if a.group_size < 2:
        p.error("--group-size must be at least 2 (GRPO needs a group to compare)")
    from node.envs import ENV_NAMES

    if a.env not in ENV_NAMES:
        p.error(f"--env {a.env!r} is not a known environment; known: {', '.join(ENV_NAMES)}")
    if a.model not in ("smollm2", "tiny") and not (Path(a.model).expanduser() / "config.json").is_file():
        p.error(f"--model {a.model!r} is neither smollm2, tiny nor a model folder (one with a config.json)")
    import torch

    try:
        device = torch.device(a.device)
    except RuntimeError:
        p.error(f"--device {a.device!r} is not a torch device (cpu, cuda, cuda:1, ...)")
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error(f"--device {a.device}: this machine has no CUDA device torch can use")
    fields = {k: v for k, v in vars(a).items() if k != "settings"}
    cfg = BenchConfig(settings=settings, **fields)
    try:
        _dtype(cfg.train_dtype)
    except ValueError as exc:
        p.error(str(exc))
    return cfg


# What makes a saved job the same job: every field that changes its numbers (not workers, out,
# deadline, resume or the bootstrap of the report).
_JOB_FIELDS = (
    "model", "env", "device", "train_dtype", "generation", "eval", "difficulty", "miners", "rounds",
    "group_size", "max_tokens", "temperature_milli", "lora_rank", "learning_rate", "heldout", "eval_every",
    "batch_size", "micro_batch",
)  # fmt: skip


def _job_path(cfg: BenchConfig, name: str, seed: int) -> Path:
    return Path(cfg.out) / "jobs" / f"{name}-seed{seed}.json"


def _job_key(cfg: BenchConfig, name: str) -> dict:
    return {k: getattr(cfg, k) for k in _JOB_FIELDS} | {"local_external": list(cfg.settings[name])}


def save_job(cfg: BenchConfig, job: dict) -> Path:
    """Each finished job is written at once (a long design loses at most the jobs still running)."""
    path = _job_path(cfg, job["setting"], job["seed"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"key": _job_key(cfg, job["setting"]), "job": job}))
    tmp.replace(path)
    return path


def saved_job(cfg: BenchConfig, name: str, seed: int) -> dict | None:
    """A finished job saved by an earlier run of the same design (`--resume`), or None: missing,
    unreadable, another configuration, or cut short by a deadline."""
    path = _job_path(cfg, name, seed)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("key") != _job_key(cfg, name):
        return None
    job = data.get("job")
    if not isinstance(job, dict) or len(job.get("round_seconds", ())) != cfg.rounds:
        return None
    return job


def _run_job_args(args: tuple[BenchConfig, str, int]) -> dict:
    return run_job(*args)


def main(argv: list[str]) -> int:
    cfg = _parse(argv)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"config: {json.dumps(asdict(cfg))}", flush=True)
    jobs_all = [(cfg, name, cfg.first_seed + s) for s in range(cfg.seeds) for name in cfg.settings]
    done: dict[tuple[str, int], dict] = {}
    for _, name, seed in jobs_all:
        job = saved_job(cfg, name, seed) if cfg.resume else None
        if job is not None:
            done[(name, seed)] = job
            print(f"[{name} seed {seed}] resumed from {_job_path(cfg, name, seed)}", flush=True)
    jobs_todo = [job for job in jobs_all if (job[1], job[2]) not in done]
    started = time.time()
    load, stop = [os.getloadavg()], threading.Event()

    def sample_load() -> None:
        while not stop.wait(10.0):
            load.append(os.getloadavg())

    def finished(job: dict) -> None:
        done[(job["setting"], job["seed"])] = job
        print(f"[{job['setting']} seed {job['seed']}] done, saved to {save_job(cfg, job)}", flush=True)

    sampler = threading.Thread(target=sample_load, daemon=True)
    sampler.start()
    from verifier.models import ModelError

    try:
        if cfg.workers == 1 or len(jobs_todo) <= 1:
            for job in jobs_todo:
                finished(run_job(*job))
        else:
            # Jobs of all settings run interleaved, so every setting sees the same machine load.
            ctx = multiprocessing.get_context("spawn")
            with ctx.Pool(min(cfg.workers, len(jobs_todo))) as pool:
                for job in pool.imap_unordered(_run_job_args, jobs_todo):
                    finished(job)
    except KeyboardInterrupt:
        print(f"Interrupted; {len(done)} finished jobs are saved under {out / 'jobs'} (rerun with --resume).")
        return 130
    except ModelError as exc:
        print(f"Cannot load the model: {exc}", file=sys.stderr)
        return 1
    finally:
        stop.set()
    load.append(os.getloadavg())
    wall = time.time() - started
    jobs = [done[(name, seed)] for _, name, seed in jobs_all]
    ran = [done[(name, seed)] for _, name, seed in jobs_todo]
    results = {
        "config": asdict(cfg),
        "jobs": jobs,
        "load": load,
        "wall_seconds": wall,
        "resumed": len(jobs) - len(ran),
    }
    (out / "results.json").write_text(json.dumps(results, indent=1))
    text = report(cfg, jobs, load, wall, ran)
    (out / "report.txt").write_text(text + "\n")
    print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
