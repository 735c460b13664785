"""`rollproof bench verify`: the verifier's figures, printed side by side in one run.

Sections: calibration of honest deviations (SmolLM2), prover vs transformers `generate`, the
prover's logprob-recording overhead, one prefill audit vs generation per rollout, the per-task
audit/generation cost at the default parameters, honest false rejections, and detection of
cheaters (per audited rollout, then per task by simulation with real cheating rollouts, next to
the formula). Timings are printed, never asserted. The last line is
`audit cost / generation cost per task: X`.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import torch

from verifier.challenge import get_challenge
from verifier.commitments import MerkleTree, leaf_hash
from verifier.env import Environment, Problem
from verifier.params import AuditParams
from verifier.prf import H, sample_indices
from verifier.rollout import Rollout, TaskSpec, reward_to_micro
from verifier.sampler import (
    TokenSource,
    chat_prompt_ids,
    inverse_cdf_draw,
    pad_token_id,
    prove_rollouts,
    sample_batch,
    scaled_log_softmax,
    task_problems,
)
from verifier.verify import Prefill, Verdict, prefill_logprobs, verify_rollouts

BENCH_MINER = "0x" + "11" * 20
OTHER_MINER = "0x" + "22" * 20
DEFAULT_SLASH_BPS = 5_000  # the fraction of a failing miner's stake slashed (Settlement default)


# ---------------------------------------------------------------------------------------------
# A small environment (the verifier may not import node/, so the bench brings its own)
# ---------------------------------------------------------------------------------------------


class BasicArithmeticEnv:
    """reasoning-gym basic_arithmetic; reward 1 when the last number in the completion is the answer."""

    name = "basic_arithmetic"

    def generate(self, seed: bytes, n: int, difficulty: int) -> list[Problem]:
        import reasoning_gym

        digits = max(1, difficulty)
        ds = reasoning_gym.create_dataset(
            "basic_arithmetic",
            seed=int.from_bytes(seed[:8], "big"),
            size=n,
            min_terms=2,
            max_terms=2,
            min_digits=digits,
            max_digits=digits,
        )
        return [Problem(i, str(x["question"]), str(x["answer"])) for i, x in enumerate(ds)]

    def messages(self, problem: Problem) -> list[dict[str, str]]:
        return [{"role": "user", "content": problem.question + " Answer with the number only."}]

    def score(self, problem: Problem, completion: str) -> float:
        numbers = re.findall(r"-?\d+(?:\.\d+)?", completion)
        return 1.0 if numbers and numbers[-1] == problem.answer else 0.0


# ---------------------------------------------------------------------------------------------
# Cheaters: each breaks exactly one rule of the protocol
# ---------------------------------------------------------------------------------------------


def greedy_source(
    logits: torch.Tensor, u: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Argmax decoding that reports the honest T-scaled logprob of its token."""
    logp = scaled_log_softmax(logits, temperature)
    tokens = logp.argmax(-1)
    return tokens, logp.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)


def temperature_source(cheat_temperature: float) -> TokenSource:
    """Samples (inverse CDF at the right u) at another temperature and reports those logprobs."""

    def source(
        logits: torch.Tensor, u: torch.Tensor, temperature: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return inverse_cdf_draw(logits, u, cheat_temperature)

    return source


def plain_source(
    logits: torch.Tensor, u: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The inverse-CDF draw without recording logprobs (for the recording-overhead figure)."""
    logp = scaled_log_softmax(logits, temperature)
    cdf = torch.cumsum(torch.exp(logp), dim=-1)
    x = (u * cdf[..., -1]).unsqueeze(-1)
    tokens = torch.searchsorted(cdf, x, right=True).squeeze(-1).clamp(max=logp.shape[-1] - 1)
    return tokens, torch.zeros(tokens.shape, dtype=torch.float64)


def perturbed_copy(model, relative_std: float, seed: int = 0):
    """A deep copy of the model with N(0, relative_std * std(W)) noise added to every weight."""
    import copy

    clone = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in clone.parameters():
            if p.dtype.is_floating_point and p.numel() > 1:
                p.add_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * float(p.std()) * relative_std)
    return clone


def refill_logprobs(model, tokenizer, task: TaskSpec, rollouts: Sequence[Rollout]) -> list[Rollout]:
    """The rollouts with logprobs recomputed by a prefill of `model` (the cheap-generation cheat)."""
    lps = prefill_logprobs(
        model,
        [r.prompt_ids for r in rollouts],
        [r.tokens for r in rollouts],
        task.temperature,
        pad_token_id(tokenizer),
    )
    return [replace(r, logprobs=tuple(lp)) for r, lp in zip(rollouts, lps, strict=True)]


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def audit_all(
    model,
    tokenizer,
    env: Environment,
    task: TaskSpec,
    rollouts: Sequence[Rollout],
    challenge_seed: bytes = b"bench",
    prefill: Prefill = Prefill(),
) -> list[Verdict]:
    """Audit every rollout individually (one Verdict each) under a real tree and challenge positions
    (the task's k and tolerances: `task.audit`)."""
    tree = MerkleTree.of_rollouts(rollouts)
    problems = task_problems(env, task)
    verdicts = []
    challenges = {}
    for r in rollouts:
        if r.miner not in challenges:
            total = task.total_rollouts
            every = replace(task.audit, rollouts=total)
            full = get_challenge(H("bench-challenge", challenge_seed), task.task_id, r.miner, total, every)
            challenges[r.miner] = (full, {item.index: item for item in full.items})
        full, items = challenges[r.miner]
        ch = replace(full, items=(items[task.rollout_index(r.p, r.g)],))
        proof = [tree.proof(leaf_hash(r))]
        verdicts.append(
            verify_rollouts(model, tokenizer, env, task, tree.root, [r], proof, ch, prefill, problems)
        )
    return verdicts


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


def timed(fn: Callable[..., object], *args: object) -> tuple[float, object]:
    """CPU seconds of this process (not wall time): on a shared machine the wall clock measures the
    neighbours; the CPU time of a single-threaded run measures the work."""
    start = time.process_time()
    out = fn(*args)
    return time.process_time() - start, out


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


def bench_task(
    task_id: int,
    max_tokens: int,
    P: int,
    G: int,
    temperature_milli: int = 700,
    audit: AuditParams | None = None,
) -> TaskSpec:
    return TaskSpec(
        task_id, 1, P, G, max_tokens, temperature_milli, H("bench-seed", task_id), audit or AuditParams()
    )


# ---------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------


def section_calibration(
    model, tokenizer, env, cfg: BenchConfig, out: Callable[[str], None]
) -> list[tuple[TaskSpec, list[Rollout]]]:
    from verifier.calibration import TABLE_HEADER, PrefillSetting, measure_deviation, recommend_tolerances

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


def measure_costs(
    model, tokenizer, env, cfg: BenchConfig, n_tok: int
) -> tuple[dict[str, float], bool, TaskSpec, list[Rollout]]:
    """Seconds per rollout at n_tok forced new tokens, and whether the honest audits passed."""
    from verifier.prf import sampler_us

    eos, pad = frozenset(), pad_token_id(tokenizer)  # no EOS: every row runs the full length
    task = bench_task(200 + n_tok, n_tok, max(1, cfg.batch // 4), 4, audit=cfg.audit)
    problems = task_problems(env, task)
    pairs = [task.problem_and_rollout(i) for i in range(cfg.batch)]
    prompts = [chat_prompt_ids(tokenizer, env.messages(problems[p])) for p, _ in pairs]
    us = [sampler_us(task.seed_randomness, task.task_id, BENCH_MINER, p, g, n_tok) for p, g in pairs]
    temp = task.temperature
    # The machine is shared: interleave the contenders and keep each one's best of cfg.cost_reps runs.
    t_b1 = t_bb = t_plain = t_gen = math.inf
    for _ in range(cfg.cost_reps):
        t_b1 = min(t_b1, timed(sample_batch, model, prompts[:1], us[:1], temp, n_tok, eos, pad)[0])
        elapsed, comps = timed(sample_batch, model, prompts, us, temp, n_tok, eos, pad)
        t_bb = min(t_bb, elapsed)
        t_gen = min(t_gen, time_hf_generate(model, tokenizer, prompts, temp, n_tok))
        t_plain = min(
            t_plain, timed(sample_batch, model, prompts, us, temp, n_tok, eos, pad, plain_source)[0]
        )
    rollouts = []
    for j, ((p, g), c) in enumerate(zip(pairs, comps, strict=True)):
        text = tokenizer.decode(c.tokens, skip_special_tokens=True)
        reward = reward_to_micro(env.score(problems[p], text))
        rollouts.append(
            Rollout(
                task.task_id, BENCH_MINER, p, g, tuple(prompts[j]), tuple(c.tokens), tuple(c.logprobs), reward
            )
        )
    tree = MerkleTree.of_rollouts(rollouts)
    full = get_challenge(
        H("cost"),
        task.task_id,
        BENCH_MINER,
        task.total_rollouts,
        replace(task.audit, rollouts=task.total_rollouts),
    )
    items = {it.index: it for it in full.items}

    def audit(rs: list[Rollout]) -> Verdict:
        ch = replace(full, items=tuple(items[task.rollout_index(r.p, r.g)] for r in rs))
        proofs = [tree.proof(leaf_hash(r)) for r in rs]
        return verify_rollouts(model, tokenizer, env, task, tree.root, rs, proofs, ch, Prefill(), problems)

    a_b1 = a_bb = math.inf
    for _ in range(cfg.cost_reps):
        elapsed, v1 = timed(audit, rollouts[:1])
        a_b1 = min(a_b1, elapsed)
        elapsed, vb = timed(audit, rollouts)
        a_bb = min(a_bb, elapsed)
    per = {
        "prover_b1": t_b1,
        "prover_bb": t_bb / cfg.batch,
        "generate_bb": t_gen / cfg.batch,
        "plain_bb": t_plain / cfg.batch,
        "audit_b1": a_b1,
        "audit_bb": a_bb / cfg.batch,
    }
    # Forced full length runs through EOS, which the termination rule rightly rejects; every other
    # check must pass.
    passed = all(f.check == "termination" for v in (v1, vb) for f in v.failures)
    return per, passed, task, rollouts


def section_costs(
    model, tokenizer, env, cfg: BenchConfig, out: Callable[[str], None]
) -> dict[int, dict[str, float]]:
    """Seconds per rollout: prover at batch 1 and B, generate(do_sample) at B, plain decoding, audits."""
    torch.set_num_threads(cfg.threads)
    b = cfg.batch
    out(
        f"## cost per rollout (CPU seconds, best of {cfg.cost_reps}), {cfg.threads} thread(s), forced full length"
    )
    out(
        f"| new tokens | prover b1 | prover b{b} | generate() b{b} | plain decode b{b} | logprob overhead | "
        f"audit b1 | audit b{b} | audit/gen b1 | audit/gen b{b} |"
    )
    out("|---|---|---|---|---|---|---|---|---|---|")
    figures: dict[int, dict[str, float]] = {}
    long_runs = []
    for n_tok in cfg.new_tokens:
        per, passed, task, rollouts = measure_costs(model, tokenizer, env, cfg, n_tok)
        long_runs.append((task, rollouts))
        figures[n_tok] = per
        overhead = per["prover_bb"] / per["plain_bb"] - 1.0
        out(
            f"| {n_tok} | {per['prover_b1']:.3f} | {per['prover_bb']:.3f} | {per['generate_bb']:.3f} | "
            f"{per['plain_bb']:.3f} | {overhead * 100:+.1f}% | {per['audit_b1']:.3f} | {per['audit_bb']:.3f} | "
            f"{per['audit_b1'] / per['prover_b1']:.3f} | {per['audit_bb'] / per['prover_bb']:.3f} |"
            + ("" if passed else "  (honest audit FAILED)")
        )
    for n_tok, per in figures.items():
        out(
            f"prover vs generate(do_sample=True) at batch {b}, {n_tok} tokens: "
            f"{per['generate_bb'] / per['prover_bb']:.2f}x generate's time per rollout "
            f"(> 1 means the prover is faster)"
        )
    from verifier.calibration import TABLE_HEADER, PrefillSetting, measure_deviation

    out("honest deviations of the forced full-length (long) rollouts above:")
    out(TABLE_HEADER)
    for task, rollouts in long_runs:
        setting = PrefillSetting(f"{task.max_tokens} forced tokens, batch {cfg.batch}, right padding")
        out(measure_deviation(model, tokenizer, task, rollouts, setting).row())
    return figures


@torch.inference_mode()
def time_hf_generate(
    model, tokenizer, prompts: Sequence[Sequence[int]], temperature: float, n_tok: int
) -> float:
    """transformers generate(do_sample=True) on the same left-padded batch, forced to n_tok tokens."""
    from verifier.sampler import left_pad

    ids, mask, _ = left_pad(prompts, pad_token_id(tokenizer))
    start = time.process_time()
    model.generate(
        input_ids=ids,
        attention_mask=mask,
        do_sample=True,
        temperature=temperature,
        top_k=0,
        top_p=1.0,
        max_new_tokens=n_tok,
        min_new_tokens=n_tok,
        pad_token_id=pad_token_id(tokenizer),
    )
    return time.process_time() - start


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


def cheat_rollouts(name: str, model, tokenizer, env, task: TaskSpec, miner: str) -> list[Rollout]:
    """All P*G rollouts of a miner that cheats in the named way (tiny-model versions, fast)."""
    from verifier.models import tiny_model

    def prove(m=model, source: TokenSource = inverse_cdf_draw, who: str = miner) -> list[Rollout]:
        return prove_rollouts(m, tokenizer, env, task, who, batch_size=8, token_source=source)

    if name == "noise-perturbed weights (1e-3 std)":
        return prove(perturbed_copy(model, 1e-3))
    if name == "different model (random init)":
        return prove(tiny_model(seed=99)[0])
    if name == "greedy decoding":
        return prove(source=greedy_source)
    if name == "temperature 1.0 instead of 0.7":
        return prove(source=temperature_source(1.0))
    if name == "cheap model + real prefill logprobs":
        return refill_logprobs(model, tokenizer, task, prove(tiny_model(seed=98)[0]))
    if name == "forged logprobs (+0.01)":
        return [replace(r, logprobs=tuple(x + 0.01 for x in r.logprobs)) for r in prove()]
    raise ValueError(f"unknown cheat {name!r}")


CHEATS = (
    "noise-perturbed weights (1e-3 std)",
    "different model (random init)",
    "greedy decoding",
    "temperature 1.0 instead of 0.7",
    "cheap model + real prefill logprobs",
    "forged logprobs (+0.01)",
)


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
