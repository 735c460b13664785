"""Cross-kernel calibration (`rollproof bench honest --kernels`, PROTOCOL.md §9.1-9.3).

Honest miners run whatever CPU they have: ATen picks its vectorised kernels (DEFAULT, AVX2,
AVX-512) from the CPU and runs them on any number of threads. Each combination sums in another
order, so the same rollout gets slightly different logprobs. This bench generates honest rollouts
under every available (kernel set, thread count) — each in its own subprocess with
`ATEN_CPU_CAPABILITY` set, the only way to choose kernels — and verifies every set under every
other setting (prefill batch 1 and 8), then reports max and p99 |Δlogprob| and token flips, the
tolerance that data gives with a stated margin, and the detection floor (the smallest weight
noise and LoRA-shaped delta caught in >= 99 % of audited rollouts) under the old and new rules.

Numerics do not depend on machine load; nothing here is timed.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from verifier.params import AuditParams
from verifier.prf import H, sampler_us
from verifier.rollout import Rollout, TaskSpec
from verifier.sampler import pad_token_id, scaled_log_softmax
from verifier.verify import cdf_interval_distance, prefill_logits

CAPABILITIES = ("default", "avx2", "avx512")
REPO_ROOT = Path(__file__).resolve().parents[1]


def say(line: str) -> None:
    print(line, flush=True)  # long runs: show each line as it comes, also when redirected


OLD_RULE = AuditParams(positions=32, logprob_tol_nano=500_000, edge_slack_nano=500_000)  # before issue 14
MARGIN = 2.0  # tolerance = MARGIN x the worst honest |Δlogprob| over every kernel/thread/batch pair


def available_capabilities() -> list[str]:
    """The ATen CPU capabilities this CPU can run (from /proc/cpuinfo's flags)."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        flags = set()
    caps = ["default"]
    if "avx2" in flags:
        caps.append("avx2")
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags:
        caps.append("avx512")
    return caps


@dataclass(frozen=True)
class TokenStats:
    """Per-token honest deviations of one (generation setting, verification setting) pair."""

    diffs: list[float]
    edges: list[float]  # distance of x outside the recomputed interval (0 inside)

    @property
    def flips(self) -> int:
        return sum(e > 0 for e in self.edges)


def quantile(values: Sequence[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else 0.0


def token_stats(model, task: TaskSpec, rollouts: Sequence[Rollout], batch: int, pad: int) -> list[TokenStats]:
    """Claimed vs recomputed logprob and interval-edge distance at every token, one entry per rollout."""
    out = []
    for start in range(0, len(rollouts), batch):
        chunk = rollouts[start : start + batch]
        logits = prefill_logits(
            model,
            [r.prompt_ids for r in chunk],
            [r.tokens for r in chunk],
            [list(range(len(r.tokens))) for r in chunk],
            pad,
        )
        for r, row in zip(chunk, logits, strict=True):
            logp = scaled_log_softmax(row, task.temperature)
            us = sampler_us(task.seed_randomness, task.task_id, r.miner, r.p, r.g, len(r.tokens))
            diffs, edges = [], []
            for t, token in enumerate(r.tokens):
                diffs.append(abs(r.logprobs[t] - float(logp[t, token])))
                edges.append(cdf_interval_distance(logp[t], token, us[t])[0])
            out.append(TokenStats(diffs, edges))
    return out


def caught(stats: TokenStats, rule: AuditParams, position_key: bytes) -> bool:
    """Would an audit under `rule` fail this rollout (k positions drawn from `position_key`)?"""
    from verifier.challenge import AuditItem

    positions = AuditItem(0, position_key).positions(len(stats.diffs), rule.positions)
    return any(not stats.diffs[t] <= rule.logprob_tol or stats.edges[t] > rule.edge_slack for t in positions)


# ---- subprocess workers ---------------------------------------------------------------------------


def kernels_task(tokens: int, n: int, task_id: int = 14_000) -> TaskSpec:
    from bench.workload import bench_task

    return bench_task(task_id, tokens, max(1, math.ceil(n / 8)), 8)


class FullLengthTokenizer:
    """The tokenizer with an EOS no draw can return, so every rollout runs to max_tokens.

    SmolLM2 answers the bench's prompts in 7 to 108 tokens whatever max_tokens is, so honest
    rollouts never reach the lengths whose numerics the tolerance must cover. Past the real EOS the
    model keeps computing the same softmax from a longer context, so the claimed logprobs are still
    the prover's own (KV-cache decode), and the verifier's prefill of them is still honest: only the
    termination check, which this bench does not run, would object.
    """

    eos_token_id = -1  # never drawn: the inverse-CDF sampler returns vocabulary ids only

    def __init__(self, tokenizer) -> None:
        self._tokenizer = tokenizer
        self.pad_token_id = pad_token_id(tokenizer)  # the real one: -1 would index no embedding

    def __getattr__(self, name: str):
        return getattr(self._tokenizer, name)


def worker_generate(
    model_spec: str, tokens: int, n: int, out: Path, dtype: torch.dtype, batch: int, full_length: bool = False
) -> None:
    from bench.workload import BENCH_MINER, BasicArithmeticEnv
    from verifier.models import load_model
    from verifier.sampler import prove_rollouts

    model, tokenizer = load_model(model_spec, dtype=dtype)
    task = kernels_task(tokens, n)
    prover_tokenizer = FullLengthTokenizer(tokenizer) if full_length else tokenizer
    rollouts = prove_rollouts(
        model, prover_tokenizer, BasicArithmeticEnv(), task, BENCH_MINER, batch_size=batch
    )[:n]
    out.write_text(
        json.dumps(
            {
                "capability": torch.backends.cpu.get_cpu_capability(),
                "rollouts": [r.to_dict() for r in rollouts],
            }
        )
    )


def worker_verify(
    model_spec: str, tokens: int, n: int, inputs: list[Path], out: Path, dtype: torch.dtype
) -> None:
    from verifier.models import load_model

    model, tokenizer = load_model(model_spec, dtype=dtype)
    task = kernels_task(tokens, n)
    pad = pad_token_id(tokenizer)
    result: dict[str, object] = {"capability": torch.backends.cpu.get_cpu_capability(), "pairs": {}}
    for path in inputs:
        rollouts = [Rollout.from_dict(d) for d in json.loads(path.read_text())["rollouts"]]
        for batch in (1, 8):
            stats = token_stats(model, task, rollouts, batch, pad)
            result["pairs"][f"{path.stem}|b{batch}"] = [[s.diffs, s.edges] for s in stats]  # type: ignore[index]
    out.write_text(json.dumps(result))


def spawn(
    args: list[str],
    capability: str,
    threads: int,
    dtype: str = "fp32",
    batch: int = 8,
    full_length: bool = False,
) -> None:
    # PASSIVE: on a shared machine spinning OpenMP threads wait for each other's time slices (it
    # changes the speed, not the arithmetic).
    env = dict(
        os.environ,
        ATEN_CPU_CAPABILITY=capability,
        OMP_NUM_THREADS=str(threads),
        OMP_WAIT_POLICY="PASSIVE",
        HF_HUB_OFFLINE="1",
        # bench/ is not an installed package: the worker finds it from the checkout's root.
        PYTHONPATH=os.pathsep.join(filter(None, (str(REPO_ROOT), os.environ.get("PYTHONPATH")))),
    )
    cmd = [sys.executable, "-m", "bench.kernels", "--threads", str(threads), "--dtype", dtype]
    cmd += ["--batch", str(batch), *(["--full-length"] if full_length else []), *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(
            f"worker {' '.join(args[:1])} under {capability}/{threads} failed:\n{done.stderr[-2000:]}"
        )


# ---- detection floor --------------------------------------------------------------------------


def lora_shaped_copy(model, relative: float, rank: int = 8, seed: int = 0):
    """A copy whose q/k/v/o projections carry a rank-`rank` delta of Frobenius norm `relative`·‖W‖
    (what a different LoRA adapter than the committed one does to the weights)."""
    import copy

    clone = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in clone.named_parameters():
            if p.dim() == 2 and any(t in name for t in ("q_proj", "k_proj", "v_proj", "o_proj")):
                a = torch.randn(p.shape[0], rank, generator=gen)
                b = torch.randn(rank, p.shape[1], generator=gen)
                delta = a @ b
                p.add_(delta * (relative * float(p.norm()) / float(delta.norm())))
    return clone


def detection_floor(
    model,
    tokenizer,
    tokens: int,
    n: int,
    levels: Sequence[float],
    make: Callable[[object, float], object],
    rules: dict[str, AuditParams],
    out: Callable[[str], None],
    label: str,
) -> dict[str, float | None]:
    """Fraction of audited rollouts caught at each level under each rule; the smallest level caught in
    >= 99 % of them (None when no level is)."""
    from bench.workload import BENCH_MINER, BasicArithmeticEnv
    from verifier.sampler import prove_rollouts

    task = kernels_task(tokens, n, task_id=14_500)
    env, pad = BasicArithmeticEnv(), pad_token_id(tokenizer)
    floors: dict[str, float | None] = dict.fromkeys(rules)
    out(
        f"| {label} | "
        + " | ".join(f"caught, {name}" for name in rules)
        + " | max \\|Δlogprob\\| | token flips |"
    )
    out("|---" * (len(rules) + 3) + "|")
    for level in levels:
        cheat = make(model, level)
        rollouts = prove_rollouts(cheat, tokenizer, env, task, BENCH_MINER, batch_size=8)[:n]
        stats = token_stats(model, task, rollouts, 8, pad)
        keys = [H("floor-positions", label, round(level * 1e9), i) for i in range(len(stats))]
        cells = []
        for name, rule in rules.items():
            rate = sum(caught(s, rule, k) for s, k in zip(stats, keys, strict=True)) / len(stats)
            cells.append(f"{rate:.3f}")
            if rate >= 0.99 and floors[name] is None:
                floors[name] = level
        worst = max(max(s.diffs) for s in stats)
        flips = sum(s.flips for s in stats)
        total = sum(len(s.diffs) for s in stats)
        out(f"| {level:.1e} | " + " | ".join(cells) + f" | {worst:.2e} | {flips}/{total} |")
    return floors


# ---- the driver ---------------------------------------------------------------------------------


def run_kernels_bench(
    model: str = "smollm2",
    rollouts: int = 16,
    tokens: int = 64,
    threads: Sequence[int] = (1, 2),
    floor_rollouts: int = 16,
    out: Callable[[str], None] = say,
    keep: Path | None = None,
    full_length: bool = False,
    verify_threads: Sequence[int] | None = None,
) -> AuditParams:
    """Generate under every (capability, threads), verify under every other, print the tables; returns
    the audit parameters the data gives (tolerance = MARGIN x worst honest deviation). With `keep`,
    the generated and verified JSON files are kept there, and reused when already there. With
    `full_length`, every rollout runs to `tokens` (FullLengthTokenizer); `floor_rollouts` = 0 skips
    the detection floor. `verify_threads` (default: `threads`) are the thread counts of the verifying
    settings: long rollouts make each verification costly, so a run may verify under every kernel set
    at one thread count only."""
    caps = available_capabilities()
    settings = [(c, t) for c in caps for t in threads]
    verifiers = [(c, t) for c in caps for t in (verify_threads or threads)]
    out(
        f"# rollproof bench honest --kernels: {model}, {rollouts} rollouts x "
        f"{'exactly' if full_length else '<='} {tokens} tokens per setting, "
        f"T = 0.7, fp32; kernels {', '.join(caps)}; threads {', '.join(map(str, threads))} "
        f"(verified at {', '.join(map(str, verify_threads or threads))}); "
        f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    with tempfile.TemporaryDirectory(prefix="rollproof-kernels-") as tmp:
        root = keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        gen_files = []
        for cap, t in settings:
            path = root / f"gen-{cap}-t{t}.json"
            if not path.exists():
                spawn(
                    ["generate", model, str(tokens), str(rollouts), str(path)],
                    cap,
                    t,
                    full_length=full_length,
                )
            gen_files.append(path)
        results = {}
        for cap, t in verifiers:
            path = root / f"verify-{cap}-t{t}.json"
            if not path.exists():
                spawn(["verify", model, str(tokens), str(rollouts), str(path), *map(str, gen_files)], cap, t)
            results[(cap, t)] = json.loads(path.read_text())
        reported = {f.stem: json.loads(f.read_text())["capability"] for f in gen_files}
    out(f"ATen capability reported by each generating subprocess: {reported}")
    out(
        "| generated under | verified under | prefill batch | tokens | token flips | max edge distance | p99 \\|Δlogprob\\| | max |"
    )
    out("|---|---|---|---|---|---|---|---|")
    all_diffs: list[float] = []
    cross_diffs: list[float] = []
    worst_edge, flips = 0.0, 0
    for (vcap, vt), res in results.items():
        for key, rows in res["pairs"].items():
            gen, batch = key.split("|")
            diffs = [d for r in rows for d in r[0]]
            edges = [e for r in rows for e in r[1]]
            all_diffs += diffs
            if gen != f"gen-{vcap}-t{vt}":
                cross_diffs += diffs
            worst_edge = max(worst_edge, max(edges, default=0.0))
            f = sum(e > 0 for e in edges)
            flips += f
            out(
                f"| {gen.removeprefix('gen-')} | {vcap}-t{vt} | {batch[1:]} | {len(diffs)} | {f} | "
                f"{max(edges, default=0.0):.2e} | {quantile(diffs, 0.99):.2e} | {max(diffs, default=0.0):.2e} |"
            )
    worst = max(all_diffs, default=0.0)
    out(
        f"all pairs: {len(all_diffs)} token checks, max |Δlogprob| {worst:.2e}, p99 {quantile(all_diffs, 0.99):.2e}; "
        f"cross-setting pairs only: max {max(cross_diffs, default=0.0):.2e}, p99 {quantile(cross_diffs, 0.99):.2e}; "
        f"token flips {flips}, max edge distance {worst_edge:.2e}"
    )
    tol = _round_up(MARGIN * worst)
    slack = _round_up(max(1e-5, 100 * worst_edge))
    new = AuditParams.of_tolerances(tol, slack)
    out(
        f"tolerance from the data: {MARGIN:g} x {worst:.2e} -> logprob tol {tol:.1e} (rounded up to one "
        f"significant digit); edge slack max(1e-5, 100 x {worst_edge:.1e}) -> {slack:.1e}. "
        f"In force: {AuditParams().logprob_tol:.1e} / {AuditParams().edge_slack:.1e}"
    )
    if floor_rollouts == 0:
        return new
    from verifier.models import load_model

    torch.set_num_threads(1)
    base, tokenizer = load_model(model)
    rules = {
        "old: k=32, 5e-4/5e-4": OLD_RULE,
        "all, 5e-4/5e-4": replace(OLD_RULE, positions=0),
        "all, 2e-4/1e-5": AuditParams.of_tolerances(2e-4, 1e-5),
        f"all, {AuditParams().logprob_tol:.1e}/{AuditParams().edge_slack:.0e} (in force)": AuditParams(),
        f"all, {new.logprob_tol:.0e}/{new.edge_slack:.0e} (2x today)": new,
    }
    from bench.cheaters import perturbed_copy

    out(
        f"\n## detection floor: {floor_rollouts} audited rollouts per level, <= {tokens} tokens, every one audited"
    )

    def floor(
        levels: Sequence[float], make: Callable[[object, float], object], label: str
    ) -> dict[str, float | None]:
        return detection_floor(base, tokenizer, tokens, floor_rollouts, levels, make, rules, out, label)

    noise = floor((1e-6, 3e-6, 1e-5, 3e-5), lambda m, s: perturbed_copy(m, s, seed=1), "weight noise (x std)")
    out("")
    lora = floor(
        (3e-5, 1e-4, 3e-4, 1e-3),
        lambda m, s: lora_shaped_copy(m, s, seed=2),
        "rank-8 q/k/v/o delta (relative)",
    )
    for name in rules:
        out(
            f"floor under {name}: weight noise {noise[name]}, LoRA-shaped delta {lora[name]} (None: no level reached 99 %)"
        )
    return new


def _round_up(x: float) -> float:
    """Round up to one significant digit (1.3e-4 -> 2e-4)."""
    if x <= 0:
        return x
    e = math.floor(math.log10(x))
    return math.ceil(x / 10**e) * 10**e


def main(argv: list[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description="cross-kernel calibration worker")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32")
    ap.add_argument("--batch", type=int, default=8, help="generate: the prover's batch")
    ap.add_argument("--full-length", action="store_true", help="generate: run every rollout to max tokens")
    ap.add_argument("command", choices=("generate", "verify"))
    ap.add_argument("model")
    ap.add_argument("tokens", type=int)
    ap.add_argument("n", type=int)
    ap.add_argument("out", type=Path)
    ap.add_argument("inputs", nargs="*", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    if args.command == "generate":
        worker_generate(args.model, args.tokens, args.n, args.out, dtype, args.batch, args.full_length)
    else:
        worker_verify(args.model, args.tokens, args.n, args.inputs, args.out, dtype)


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
