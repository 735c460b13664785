"""Statistics of the SAPO experiment (docs/LEARNING.md §5): paired-by-seed intervals and power.

The unit is the seed: one seed fixes the problems, the initial adapters and the held-out set of
every setting, so per seed the difference treatment - control removes what the seed shares.
Two intervals of the mean difference over seeds are given:

- the paired t-interval, mean +- t(1 - alpha/2, n - 1) * sd / sqrt(n), exact for normal
  differences and the primary one with few seeds;
- the percentile bootstrap (resampling seeds), which assumes nothing about the shape but is too
  narrow with few units: with 5 seeds it covers about 85 % where 95 % is asked (a test shows it),
  because it uses the plug-in sd and normal rather than t quantiles. With many units both agree.

Power is that of the two-sided paired t-test at alpha, computed exactly (numerical integration
over the chi-square distribution of the sample variance, no normal approximation), and the
minimal detectable difference (MDD) is the smallest true mean difference found with the asked
power. Held-out accuracy adds its sampling noise: a binomial standard error per setting and, for
two settings scored on the same problems, the paired (discordant-pairs) one.

    .venv/bin/python -m bench.stats power           # the design's power tables (LEARNING.md §5)
    .venv/bin/python -m bench.stats results.json    # intervals of a finished run
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# ---- Student t and normal distributions (no scipy here) --------------------------------------


def normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _normal_cdf_array(x: np.ndarray) -> np.ndarray:
    """Normal CDF of an array (Abramowitz and Stegun 7.1.26 for erf, absolute error < 1.5e-7)."""
    z = np.abs(x) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-z * z)
    return 0.5 * (1.0 + np.sign(x) * erf)


def normal_quantile(p: float) -> float:
    return _bisect(normal_cdf, p, -40.0, 40.0)


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularized incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        for aa in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with `df` degrees of freedom."""
    if df <= 0:
        raise ValueError("degrees of freedom must be positive")
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The t value with P(T <= t) = p."""
    if not 0.0 < p < 1.0:
        raise ValueError("p must be strictly between 0 and 1")
    return _bisect(lambda x: t_cdf(x, df), p, -1e6, 1e6)


def _bisect(cdf, p: float, lo: float, hi: float) -> float:
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if cdf(mid) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, abs(mid)):
            break
    return (lo + hi) / 2.0


# ---- intervals of a paired mean difference -----------------------------------------------------


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int
    sd: float  # sample sd of the per-seed differences (n - 1 denominator)

    def text(self, scale: float = 1.0, unit: str = "", digits: int = 3) -> str:
        f = f"{{:+.{digits}f}}"
        return f"{f.format(self.mean * scale)}{unit} [{f.format(self.low * scale)}, {f.format(self.high * scale)}]"


def sample_sd(values: Sequence[float]) -> float:
    x = np.asarray(values, dtype=np.float64)
    return float(x.std(ddof=1)) if len(x) > 1 else float("nan")


def _units(values: Sequence[float]) -> tuple[np.ndarray, float, Interval | None]:
    """The paired units as an array, their mean, and the interval to return as is when there are
    fewer than two (NaN bounds: one unit has no spread)."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) == 0:
        raise ValueError("no paired units")
    m = float(x.mean())
    degenerate = Interval(m, float("nan"), float("nan"), 1, float("nan")) if len(x) < 2 else None
    return x, m, degenerate


def t_interval(values: Sequence[float], level: float = 0.95) -> Interval:
    """mean +- t(1 - alpha/2, n-1) sd / sqrt(n); NaN bounds with fewer than two units."""
    x, m, degenerate = _units(values)
    if degenerate is not None:
        return degenerate
    n, sd = len(x), sample_sd(x)
    half = t_quantile((1 + level) / 2, n - 1) * sd / math.sqrt(n)
    return Interval(m, m - half, m + half, n, sd)


def bootstrap_interval(
    values: Sequence[float], reps: int = 10_000, level: float = 0.95, seed: int = 0
) -> Interval:
    """Percentile bootstrap of the mean, resampling the units (seeds) with replacement."""
    x, m, degenerate = _units(values)
    if degenerate is not None:
        return degenerate
    n = len(x)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, n, size=(reps, n))].mean(axis=1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return Interval(m, float(low), float(high), n, sample_sd(x))


def paired(treatment: dict[int, float], control: dict[int, float]) -> tuple[list[int], list[float]]:
    """Seeds present in both, and per seed treatment - control."""
    seeds = sorted(set(treatment) & set(control))
    return seeds, [treatment[s] - control[s] for s in seeds]


# ---- power and minimal detectable difference (paired t-test) -----------------------------------


def paired_power(n: int, sd: float, effect: float, alpha: float = 0.05) -> float:
    """Power of the two-sided paired t-test with n units whose differences have sd `sd`.

    T = (effect sqrt(n)/sd + Z) / sqrt(V/(n-1)) with V ~ chi2(n-1): the probability of
    |T| > t_crit, integrated over V on a fine grid (exact up to the quadrature)."""
    if n < 2:
        raise ValueError("a paired t-test needs at least 2 units")
    if sd <= 0:
        return 1.0 if effect != 0 else alpha
    df = n - 1
    crit = t_quantile(1 - alpha / 2, df)
    shift = abs(effect) * math.sqrt(n) / sd
    # S = sqrt(V) follows the chi distribution (no singularity at 0, unlike chi2 with 1 df);
    # a fine grid up to far in its tail, weights from its density.
    w = np.linspace(0.0, math.sqrt(df) + 12.0, 2401)[1:]
    log_pdf = (df - 1) * np.log(w) - w * w / 2
    weights = np.exp(log_pdf - log_pdf.max())
    weights /= weights.sum()
    scale = crit * w / math.sqrt(df)
    reject = _normal_cdf_array(shift - scale) + _normal_cdf_array(-shift - scale)
    return float(min(1.0, (reject * weights).sum()))


def minimal_detectable_difference(n: int, sd: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest true mean difference the paired t-test finds with `power` (n units, sd)."""
    lo, hi = 0.0, sd * 50.0
    for _ in range(40):
        mid = (lo + hi) / 2
        if paired_power(n, sd, mid, alpha) < power:
            lo = mid
        else:
            hi = mid
    return hi


def binomial_se(p: float, n: int) -> float:
    """Standard error of an accuracy p measured on n independent samples."""
    return math.sqrt(p * (1 - p) / n)


def paired_binomial_se(discordant: float, n: int) -> float:
    """SE of the difference of two accuracies scored on the same n problems, where a share
    `discordant` of the problems is right in exactly one of the two (McNemar's pairs)."""
    return math.sqrt(discordant / n)


def heldout_seed_sd(problems: int, miners: int, discordant: float, between_seed_sd: float) -> float:
    """SD over seeds of a held-out accuracy difference: the paired sampling part of the mean
    over `miners` miners (each scored on the same `problems`) plus a between-seed part."""
    sampling = paired_binomial_se(discordant, problems) / math.sqrt(miners)
    return math.sqrt(sampling**2 + between_seed_sd**2)


# ---- a finished run ----------------------------------------------------------------------------


def _mean(xs) -> float:
    xs = list(xs)
    return sum(xs) / len(xs)


def per_round_rewards(job: dict) -> list[float]:
    """Mean reward of the miners' own rollouts, per round."""
    history = job["history"]
    return [_mean(h[r]["reward"] for h in history) for r in range(len(history[0]))]


def cumulative_reward(job: dict) -> float:
    return sum(per_round_rewards(job))


def final_heldout(job: dict) -> float:
    return _mean(job["heldout_curve"][-1][1])


def heldout_gain(job: dict) -> float:
    return final_heldout(job) - _mean(job["heldout_curve"][0][1])


def paired_differences(jobs: list[dict], treatment: str, control: str) -> dict[str, list]:
    """Per seed present in both settings: relative cumulative-reward and held-out differences.

    If a deadline stopped two jobs of a seed after different numbers of rounds, both are
    compared over the rounds both did (cumulative reward) and at the last held-out evaluation
    both made, so a pair never compares unequal training."""
    by = {(j["setting"], j["seed"]): j for j in jobs}
    seeds = sorted({s for (n, s) in by if n == treatment} & {s for (n, s) in by if n == control})
    rel, acc, rounds = [], [], []
    for s in seeds:
        t, c = by[(treatment, s)], by[(control, s)]
        n = min(len(per_round_rewards(t)), len(per_round_rewards(c)))
        t_sum, c_sum = sum(per_round_rewards(t)[:n]), sum(per_round_rewards(c)[:n])
        rel.append((t_sum - c_sum) / max(c_sum, 1e-9))
        common = max({x for x, _ in t["heldout_curve"]} & {x for x, _ in c["heldout_curve"]})
        acc.append(_heldout_at(t, common) - _heldout_at(c, common))
        rounds.append(n)
    return {"seeds": seeds, "cumulative_rel": rel, "heldout_abs": acc, "rounds": rounds}


def _heldout_at(job: dict, x: int) -> float:
    return next(_mean(accs) for at, accs in job["heldout_curve"] if at == x)


def comparison_lines(jobs: list[dict], comparisons, reps: int = 10_000) -> list[str]:
    """One paragraph per (treatment, control, what is equal): t and bootstrap intervals, sd, MDD."""
    settings = {j["setting"] for j in jobs}
    lines = []
    for treatment, control, held in comparisons:
        if treatment not in settings or control not in settings:
            continue
        d = paired_differences(jobs, treatment, control)
        n = len(d["seeds"])
        if not n:
            continue
        lines.append(f"{treatment} vs {control} ({held}, {n} seed{'s' if n != 1 else ''} paired):")
        for key, label, scale, unit in (
            ("cumulative_rel", "cumulative reward", 100.0, " %"),
            ("heldout_abs", "held-out accuracy", 1.0, ""),
        ):
            digits = 1 if unit else 3
            if n < 2:
                diff = f"{d[key][0] * scale:+.{digits}f}{unit}"
                lines.append(f"  {label}: {diff} (one seed: an interval needs two or more)")
                continue
            t = t_interval(d[key])
            b = bootstrap_interval(d[key], reps)
            mdd = minimal_detectable_difference(n, t.sd) * scale if t.sd > 0 else float("nan")
            lines.append(
                f"  {label}: {t.text(scale, unit, digits)} (95 % t), {b.text(scale, unit, digits)} (95 % bootstrap); "
                f"sd over seeds {t.sd * scale:.{digits + 1}f}{unit}, detectable at power 0.8: {mdd:.{digits + 1}f}{unit}"
            )
    return lines


# ---- command line ------------------------------------------------------------------------------

# Pilot (docs/LEARNING.md §4, runs 1-3, paired by seed): swarm - isolated.
PILOT_CUMULATIVE_REL = (0.035, 0.005, -0.099)
PILOT_HELDOUT_GAIN_DIFF = (0.094 - 0.156, 0.141 - 0.078, 0.078 - 0.016)


def power_report(seeds: Sequence[int] = (3, 5, 8, 10), alpha: float = 0.05, power: float = 0.8) -> str:
    pilot_sd = sample_sd(PILOT_CUMULATIVE_REL)
    lines = [
        f"Paired t-test, two-sided alpha = {alpha}, power = {power}: minimal detectable difference (MDD).",
        "",
        f"Cumulative reward (relative). Pilot sd of the paired difference (runs 1-3): {100 * pilot_sd:.1f} %.",
        "sd \\ seeds | " + " | ".join(f"{n}" for n in seeds),
    ]
    for sd in (0.05, pilot_sd, 0.10, 0.14, 0.20):
        lines.append(
            f"{100 * sd:5.1f} %    | "
            + " | ".join(f"{100 * minimal_detectable_difference(n, sd, alpha, power):5.1f} %" for n in seeds)
        )
    lines += [
        "",
        "Held-out accuracy (absolute), 500 problems, 4 miners, 30 % discordant pairs:",
        "between-seed sd | total sd | " + " | ".join(f"{n}" for n in seeds),
    ]
    for between in (0.0, 0.02, 0.03, 0.04):
        sd = heldout_seed_sd(500, 4, 0.3, between)
        lines.append(
            f"{between:15.2f} | {sd:8.4f} | "
            + " | ".join(f"{minimal_detectable_difference(n, sd, alpha, power):.3f}" for n in seeds)
        )
    lines += [
        "",
        "Binomial SE of one setting's held-out accuracy (p = 0.4): "
        + ", ".join(f"{m} samples {binomial_se(0.4, m):.4f}" for m in (64, 500, 2000)),
        f"Pilot held-out gain differences (runs 1-3): {', '.join(f'{x:+.3f}' for x in PILOT_HELDOUT_GAIN_DIFF)}"
        f" (sd {sample_sd(PILOT_HELDOUT_GAIN_DIFF):.3f}, on 64 samples each: mostly sampling noise)",
    ]
    return "\n".join(lines)


USAGE = """usage: python -m bench.stats power               the power tables of docs/LEARNING.md §5
       python -m bench.stats RESULTS.json        paired intervals of a finished bench/sapo run
       python -m bench.stats OUT/jobs            the same for the jobs a run has finished so far"""


def load_jobs(path: str) -> list[dict]:
    """The jobs of a bench/sapo results.json, or of the job files in its jobs/ folder."""
    p = Path(path)
    if p.is_dir():
        files = sorted(p.glob("*.json"))
        if not files:
            raise ValueError("the folder holds no job files (*.json)")
        return [json.loads(f.read_text())["job"] for f in files]
    return json.loads(p.read_text())["jobs"]


def main(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    if argv == ["power"]:
        print(power_report())
        return 0
    if len(argv) == 1:
        from bench.sapo import COMPARISONS

        try:
            jobs = load_jobs(argv[0])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"cannot read bench/sapo jobs from {argv[0]!r}: {exc}", file=sys.stderr)
            return 2
        print("\n".join(comparison_lines(jobs, COMPARISONS)))
        return 0
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
