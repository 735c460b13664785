"""The honest proof checks of PROTOCOL.md §9.1 and §9.7 on one accelerator (`bench/gpu/proof.sh`).

§9.1 measured honest deviations across CPU kernels only. A GPU miner or validator computes the same
fp32 logprobs with other kernels (cuBLAS with TF32 off, SDPA backends) and other batch sizes; this
generates honest fp32 rollouts on the device (prover batch 8 and 1) and on the CPU, verifies every
set on the device (prefill batch 8 and 1, the default and the math SDPA backend) and on the CPU,
and reports, per pair, max and p99 |Δlogprob|, token flips and the rollouts the task's tolerances
in force (verifier.params.AuditParams) would reject. Then the bf16 study of §9.7 on the device:
honest bf16 rollouts (batch 8 and 1) verified in bf16 under the same device settings, against
three cheats (1e-3 weight noise, a different model, greedy decoding), each candidate per-rollout
statistic thresholded at 1.5x its honest maximum.

    python -m bench.gpu_proof --device cuda --out "$OUT/proof"       # ~32 rollouts x 256 tokens
    python -m bench.gpu_proof --device cpu --small --out /tmp/proof  # the same code, end to end

Writes report.md (the tables) and results.json (every figure) under --out. Nothing is timed.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import os
import platform
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from bench.bf16 import BF16_MARGIN, rollout_statistics
from bench.kernels import TokenStats, kernels_task, quantile, token_stats
from verifier.params import AuditParams
from verifier.rollout import Rollout

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@dataclass(frozen=True)
class Sizes:
    rollouts: int  # per generating setting (batch 1 settings: a quarter, at least 2)
    tokens: int
    cheat_rollouts: int


FULL = Sizes(rollouts=32, tokens=256, cheat_rollouts=16)
SMALL = Sizes(rollouts=4, tokens=16, cheat_rollouts=4)


def pin_fp32() -> None:
    """Exact float32 matmuls, as every node pins them (PROTOCOL.md §5): TF32 would fail honest rollouts."""
    torch.set_float32_matmul_precision("highest")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


@contextlib.contextmanager
def sdpa(backend: str) -> Iterator[None]:
    """Attention through one SDPA backend ("default": whatever torch picks)."""
    if backend == "default":
        yield
        return
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel(getattr(SDPBackend, backend.upper())):
        yield


def rejected(stats: TokenStats, rule: AuditParams) -> bool:
    """Would an every-position audit under `rule` fail this rollout?"""
    return any(d > rule.logprob_tol for d in stats.diffs) or any(e > rule.edge_slack for e in stats.edges)


def pair_row(gen: str, ver: str, stats: list[TokenStats], rule: AuditParams) -> dict:
    diffs = [d for s in stats for d in s.diffs]
    return {
        "generated": gen,
        "verified": ver,
        "rollouts": len(stats),
        "tokens": len(diffs),
        "max": max(diffs, default=0.0),
        "p99": quantile(diffs, 0.99),
        "flips": sum(s.flips for s in stats),
        "max_edge": max((e for s in stats for e in s.edges), default=0.0),
        "rejected": sum(rejected(s, rule) for s in stats),
    }


def generate(model, tokenizer, tokens: int, n: int, batch: int, token_source=None) -> list[Rollout]:
    from bench.workload import BENCH_MINER, BasicArithmeticEnv
    from verifier.sampler import prove_rollouts

    task = kernels_task(tokens, n)
    extra = {} if token_source is None else {"token_source": token_source}
    return prove_rollouts(
        model, tokenizer, BasicArithmeticEnv(), task, BENCH_MINER, batch_size=batch, **extra
    )[:n]


def verify(
    model, rollouts: list[Rollout], tokens: int, n: int, batch: int, backend: str, pad: int
) -> list[TokenStats]:
    with sdpa(backend):
        return token_stats(model, kernels_task(tokens, n), rollouts, batch, pad)


def fp32_study(
    models: dict[str, object], tokenizer, sizes: Sizes, device: str, out: Callable[[str], None]
) -> list[dict]:
    """§9.1 on the device: honest fp32 rollouts from each generating setting, verified under each
    verifying setting; one row per pair."""
    from verifier.sampler import pad_token_id

    pad, rule = pad_token_id(tokenizer), AuditParams()
    few = max(2, sizes.rollouts // 4)
    gens = {f"{device}-b8": (device, 8, sizes.rollouts), f"{device}-b1": (device, 1, few)}
    vers = {f"{device}-b8": (device, 8, "default"), f"{device}-b1": (device, 1, "default")}
    vers[f"{device}-b8-math"] = (device, 8, "math")
    if device != "cpu":
        gens["cpu-b8"] = ("cpu", 8, sizes.rollouts)
        vers["cpu-b8"] = ("cpu", 8, "default")
    sets = {}
    for name, (where, batch, n) in gens.items():
        sets[name] = generate(models[where], tokenizer, sizes.tokens, n, batch)
        out(f"generated {len(sets[name])} fp32 rollouts under {name}")
    rows = []
    for gname, rollouts in sets.items():
        for vname, (where, batch, backend) in vers.items():
            stats = verify(models[where], rollouts, sizes.tokens, len(rollouts), batch, backend, pad)
            rows.append(pair_row(gname, vname, stats, rule))
    return rows


def bf16_study(model32, tokenizer, sizes: Sizes, device: str, out: Callable[[str], None]) -> dict:
    """§9.7 on the device: honest bf16 spread across batch sizes and SDPA backends against three cheats."""
    from bench.cheaters import greedy_source, perturbed_copy
    from verifier.sampler import pad_token_id

    pad = pad_token_id(tokenizer)
    base = copy.deepcopy(model32).to(device=device, dtype=torch.bfloat16)
    few = max(2, sizes.rollouts // 4)
    honest: list[TokenStats] = []
    for gbatch, n in ((8, sizes.rollouts), (1, few)):
        rollouts = generate(base, tokenizer, sizes.tokens, n, gbatch)
        for vbatch, backend in ((8, "default"), (1, "default"), (8, "math")):
            honest += verify(base, rollouts, sizes.tokens, n, vbatch, backend, pad)
        out(f"bf16: {len(rollouts)} honest rollouts under {device}-b{gbatch} verified 3 ways")
    torch.manual_seed(99)
    other = type(model32)(model32.config).to(device=device, dtype=torch.bfloat16)  # random init, same shape
    noisy = perturbed_copy(model32, 1e-3, seed=3).to(device=device, dtype=torch.bfloat16)
    n = sizes.cheat_rollouts
    cheats = {
        "weights + 1e-3·std noise": generate(noisy, tokenizer, sizes.tokens, n, 8),
        "different model (random init)": generate(other, tokenizer, sizes.tokens, n, 8),
        "greedy decoding": generate(base, tokenizer, sizes.tokens, n, 8, token_source=greedy_source),
    }
    cheat_stats = {name: verify(base, rs, sizes.tokens, n, 8, "default", pad) for name, rs in cheats.items()}
    table = []
    for stat in rollout_statistics(honest[0]):
        worst = max(rollout_statistics(h)[stat] for h in honest)
        threshold = BF16_MARGIN * worst
        rates = {
            name: sum(rollout_statistics(s)[stat] > threshold for s in rows) / len(rows)
            for name, rows in cheat_stats.items()
        }
        table.append({"statistic": stat, "honest_max": worst, "threshold": threshold, "caught": rates})
    reaches = any(all(r >= 0.99 for r in row["caught"].values()) for row in table)
    return {
        "honest_rollout_checks": len(honest),
        "honest_tokens": sum(len(h.diffs) for h in honest),
        "table": table,
        "a_check_reaches_both": reaches,
    }


def report(meta: dict, fp32_rows: list[dict], bf16: dict) -> str:
    rule = AuditParams()
    lines = [
        f"# GPU proof checks: {meta['device_name']} ({meta['device']}), torch {meta['torch']}, "
        f"{meta['rollouts']} rollouts x <= {meta['tokens']} tokens, T = 0.7, model {meta['model']}",
        "",
        f"## fp32 honest deviation (§9.1), tolerances in force {rule.logprob_tol:.1e} / {rule.edge_slack:.0e}",
        "| generated under | verified under | rollouts | tokens | token flips | max edge distance "
        "| p99 \\|Δlogprob\\| | max | rejected |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in fp32_rows:
        lines.append(
            f"| {r['generated']} | {r['verified']} | {r['rollouts']} | {r['tokens']} | {r['flips']} | "
            f"{r['max_edge']:.2e} | {r['p99']:.2e} | {r['max']:.2e} | {r['rejected']} |"
        )
    worst = max((r["max"] for r in fp32_rows), default=0.0)
    lines += [
        "",
        f"all pairs: max |Δlogprob| {worst:.2e} ({worst / rule.logprob_tol:.2f} of the tolerance), "
        f"{sum(r['flips'] for r in fp32_rows)} token flips, "
        f"{sum(r['rejected'] for r in fp32_rows)} of {sum(r['rollouts'] for r in fp32_rows)} rollout checks rejected",
        "",
        f"## bf16 (§9.7): {bf16['honest_rollout_checks']} honest rollout checks ({bf16['honest_tokens']} tokens)",
        "| statistic (per rollout) | honest max | threshold | "
        + " | ".join(f"caught: {c}" for c in bf16["table"][0]["caught"])
        + " |",
        "|---" * (3 + len(bf16["table"][0]["caught"])) + "|",
    ]
    for row in bf16["table"]:
        cells = " | ".join(f"{v:.3f}" for v in row["caught"].values())
        lines.append(f"| {row['statistic']} | {row['honest_max']:.3g} | {row['threshold']:.3g} | {cells} |")
    lines.append(
        f"\na check with 0 honest rejections ({BF16_MARGIN}x margin) catching every cheat in >= 99 %: "
        f"{bf16['a_check_reaches_both']}"
    )
    return "\n".join(lines) + "\n"


def run(
    model_spec: str, device: str, sizes: Sizes, out_dir: Path, out: Callable[[str], None] = print
) -> dict:
    from verifier.models import load_model

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is visible here")
    pin_fp32()
    torch.manual_seed(0)
    cpu_model, tokenizer = load_model(model_spec)
    models = {"cpu": cpu_model}
    if device != "cpu":
        models[device] = copy.deepcopy(cpu_model).to(device)
    meta = {
        "device": device,
        "device_name": torch.cuda.get_device_name(device)
        if device != "cpu"
        else platform.processor() or "cpu",
        "torch": torch.__version__,
        "model": model_spec,
        "rollouts": sizes.rollouts,
        "tokens": sizes.tokens,
        "cpu_threads": torch.get_num_threads(),
    }
    out(f"# {meta}")
    fp32_rows = fp32_study(models, tokenizer, sizes, device, out)
    bf16 = bf16_study(cpu_model, tokenizer, sizes, device, out)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = report(meta, fp32_rows, bf16)
    (out_dir / "report.md").write_text(text)
    results = {"meta": meta, "fp32": fp32_rows, "bf16": bf16}
    (out_dir / "results.json").write_text(json.dumps(results, indent=1, default=_finite))
    out(text)
    return results


def _finite(value: object) -> object:
    return None if isinstance(value, float) and not math.isfinite(value) else str(value)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2", help="'smollm2', 'tiny' or a model directory")
    ap.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    ap.add_argument("--small", action="store_true", help="a few short rollouts: checks the script end to end")
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "/tmp")) / "proof")
    args = ap.parse_args(argv)
    run(args.model, args.device, SMALL if args.small else FULL, args.out)


if __name__ == "__main__":
    main()
