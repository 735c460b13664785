"""Audit of a miner's challenged rollouts with one batched prefill (PROTOCOL.md §7).

The validator recomputes, with the committed model (base + the adapter the miner joined with,
in the task's pinned dtype), the logits at the challenged positions, and checks every rule a
cheater could break. Every failed check is reported; a single failure fails the miner.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch

from verifier.challenge import Challenge
from verifier.commitments import leaf_hash, verify_proof
from verifier.env import Environment, Problem
from verifier.params import VERIFIABLE_DTYPES
from verifier.prf import sampler_us
from verifier.rollout import REWARD_SCALE, Rollout, TaskSpec, reward_to_micro
from verifier.sampler import chat_prompt_ids, eos_token_ids, pad_token_id, scaled_log_softmax, task_problems
from verifier.tokenizer import tokenizer_hash

CHECKS = (
    "missing",
    "identity",
    "inclusion",
    "prompt",
    "length",
    "termination",
    "token",
    "logprob",
    "reward",
    "policy",  # the miner's policy is not base + the adapter it joined with (PolicyMismatch "adapter")
)


@dataclass(frozen=True)
class Prefill:
    """How a validator batches its prefill: local choices that do not change the checks (both paddings
    and any batch are calibrated, §9). The tolerances are the task's (`TaskSpec.audit`)."""

    batch: int = 8  # rows per prefill forward (memory bound)
    padding: str = "right"  # "right" or "left"


@dataclass(frozen=True)
class Failure:
    index: int  # commit index p * G + g of the rollout
    check: str  # one of CHECKS
    detail: str
    position: int | None = None  # the first failing position (token, logprob): a FAIL vote's evidence


@dataclass(frozen=True)
class Verdict:
    passed: bool
    score: int  # mean recomputed reward of the audited rollouts, 6-decimal fixed point
    audited: int
    failures: list[Failure] = field(default_factory=list)

    @property
    def score_float(self) -> float:
        return self.score / REWARD_SCALE

    def failed_checks(self) -> set[str]:
        return {f.check for f in self.failures}


@dataclass(frozen=True)
class PolicyMismatch:
    """Why a policy cannot audit a task: `what` is "dtype", "base model", "adapter" or "tokenizer"."""

    what: str
    detail: str

    def __str__(self) -> str:
        return f"{self.what} differs from the task: {self.detail}"


def tokenizer_mismatch(tokenizer, vocab_size: int, expected_hash: bytes | None = None) -> str | None:
    """Why `tokenizer` cannot be the task's: another `tokenizer_hash` than the task's tokenizerHash
    (vocabulary, merges, special tokens, chat template: §5), or, whether or not the task names one,
    ids beyond the model's vocabulary, no EOS, no chat template (prompts are derived from it)."""
    if expected_hash is not None:
        loaded = tokenizer_hash(tokenizer)
        if loaded != expected_hash:
            return f"the task names 0x{expected_hash.hex()}, the loaded tokenizer is 0x{loaded.hex()}"
    if tokenizer.eos_token_id is None:
        return "the tokenizer has no EOS token"
    if len(tokenizer) > vocab_size:
        return f"the tokenizer has {len(tokenizer)} tokens, the model's vocabulary {vocab_size}"
    if int(tokenizer.eos_token_id) >= vocab_size:
        return f"EOS id {tokenizer.eos_token_id} is outside the model's vocabulary of {vocab_size}"
    if not getattr(tokenizer, "chat_template", None):
        return "the tokenizer has no chat template"
    return None


def policy_mismatch(
    task: TaskSpec,
    *,
    base_hash: bytes,
    dtype: torch.dtype,
    tokenizer,
    vocab_size: int,
    adapter_hash: bytes | None = None,
    joined_adapter_hash: bytes | None = None,
) -> PolicyMismatch | None:
    """The first of dtype, base model, adapter, tokenizer in which the loaded policy differs from what
    the task (and the miner's join) names; None when it may audit. A validator calls it before it
    audits and abstains (or, for the miner's adapter, fails the miner) with this reason."""
    audit = task.audit
    if audit.dtype not in VERIFIABLE_DTYPES:
        return PolicyMismatch(
            "dtype", f"the task names {audit.dtype_name}, which this verifier refuses to audit (§9.7)"
        )
    if dtype != audit.torch_dtype:
        return PolicyMismatch("dtype", f"the task names {audit.dtype_name}, the model is loaded in {dtype}")
    if task.base_model_hash is not None and base_hash != task.base_model_hash:
        return PolicyMismatch(
            "base model",
            f"the task names 0x{task.base_model_hash.hex()}, the loaded model is 0x{base_hash.hex()}",
        )
    if joined_adapter_hash is not None and adapter_hash != joined_adapter_hash:
        loaded = "no adapter" if adapter_hash is None else f"0x{adapter_hash.hex()}"
        return PolicyMismatch(
            "adapter", f"the miner joined with 0x{joined_adapter_hash.hex()}, the loaded policy has {loaded}"
        )
    bad_tokenizer = tokenizer_mismatch(tokenizer, vocab_size, task.tokenizer_hash)
    if bad_tokenizer is not None:
        return PolicyMismatch("tokenizer", bad_tokenizer)
    return None


def pad_batch(
    sequences: Sequence[Sequence[int]], pad_id: int, padding: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[int]]:
    """ids, attention mask, position ids, and each row's offset of its first real token."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    offsets = []
    for row, seq in enumerate(sequences):
        start = width - len(seq) if padding == "left" else 0
        ids[row, start : start + len(seq)] = torch.tensor(list(seq), dtype=torch.long)
        mask[row, start : start + len(seq)] = 1
        offsets.append(start)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids, mask, positions, offsets


@torch.inference_mode()
def prefill_logits(
    model,
    prompts: Sequence[Sequence[int]],
    completions: Sequence[Sequence[int]],
    positions: Sequence[Sequence[int]],
    pad_id: int,
    padding: str = "right",
) -> list[torch.Tensor]:
    """One batched forward over prompt + completion; the float32 logits predicting completion token t
    for each t in positions[row] (a [len(positions[row]), V] tensor per row).

    The LM head is applied only at the needed rows of the final hidden states, so memory does not
    grow with sequence length times vocabulary.
    """
    if padding not in ("left", "right"):
        raise ValueError("padding must be 'left' or 'right'")
    seqs = [list(p) + list(c) for p, c in zip(prompts, completions, strict=True)]
    ids, mask, pos, offsets = pad_batch(seqs, pad_id, padding)
    device = next(model.parameters()).device  # a validator on a GPU: the checks themselves run on CPU
    ids, mask, pos = ids.to(device), mask.to(device), pos.to(device)
    hidden = model.get_decoder()(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False)
    hidden = hidden.last_hidden_state
    rows, cols = [], []
    for row, (prompt, wanted) in enumerate(zip(prompts, positions, strict=True)):
        for t in wanted:
            rows.append(row)
            cols.append(offsets[row] + len(prompt) + t - 1)
    logits = model.get_output_embeddings()(hidden[rows, cols]).float().cpu() if rows else None
    out, at = [], 0
    for wanted in positions:
        out.append(logits[at : at + len(wanted)] if logits is not None else torch.empty(0))
        at += len(wanted)
    return out


def prefill_logprobs(
    model,
    prompts: Sequence[Sequence[int]],
    completions: Sequence[Sequence[int]],
    temperature: float,
    pad_id: int,
    padding: str = "right",
    batch: int = 8,
) -> list[list[float]]:
    """T-scaled logprobs of every completion token under `model`, `batch` rows per forward (used by
    calibration, learners and the tests' cheaters)."""
    out: list[list[float]] = []
    for start in range(0, len(completions), batch):
        comps = completions[start : start + batch]
        positions = [list(range(len(c))) for c in comps]
        logits = prefill_logits(model, prompts[start : start + batch], comps, positions, pad_id, padding)
        for row, comp in enumerate(comps):
            if not comp:
                out.append([])
                continue
            logp = scaled_log_softmax(logits[row], temperature)
            out.append(logp.gather(-1, torch.tensor(list(comp)).unsqueeze(-1)).squeeze(-1).tolist())
    return out


def cdf_interval_distance(logp: torch.Tensor, token: int, u: float) -> tuple[float, int]:
    """How far `x = u * c[V-1]` lies outside [c[token-1], c[token]) (0 inside), and the honest token."""
    cdf = torch.cumsum(torch.exp(logp), dim=-1)
    x = u * float(cdf[-1])
    lo = float(cdf[token - 1]) if token > 0 else 0.0
    hi = float(cdf[token])
    expected = int(
        torch.searchsorted(cdf, torch.tensor([x], dtype=cdf.dtype), right=True).clamp(max=len(cdf) - 1)
    )
    if lo <= x < hi:
        return 0.0, expected
    return (lo - x if x < lo else x - hi), expected


def check_structure(
    r: Rollout, task: TaskSpec, vocab_size: int, eos: frozenset[int]
) -> list[tuple[str, str]]:
    """Length and termination rules; (check, detail) pairs."""
    out: list[tuple[str, str]] = []
    n = len(r.tokens)
    if n == 0 or n > task.max_tokens or len(r.logprobs) != n:
        out.append(("length", f"{n} tokens, {len(r.logprobs)} logprobs, max_tokens {task.max_tokens}"))
        return out
    if any(t >= vocab_size for t in r.tokens):
        out.append(("length", f"token id outside the vocabulary of {vocab_size}"))
        return out
    early = [i for i, t in enumerate(r.tokens[:-1]) if t in eos]
    if early:
        out.append(("termination", f"EOS at position {early[0]} before the end"))
    elif r.tokens[-1] not in eos and n != task.max_tokens:
        out.append(
            ("termination", f"stops after {n} tokens without EOS and below max_tokens {task.max_tokens}")
        )
    return out


def verify_rollouts(
    model,
    tokenizer,
    env: Environment,
    task: TaskSpec,
    root: bytes,
    rollouts: Sequence[Rollout | None] | Mapping[int, Rollout],
    proofs: Sequence[Sequence[bytes] | None] | Mapping[int, Sequence[bytes]],
    challenge: Challenge,
    prefill: Prefill = Prefill(),
    problems: Sequence[Problem] | None = None,
) -> Verdict:
    """Audit the challenged rollouts of `challenge.miner` under the task's audit parameters
    (`task.audit`: positions, tolerances, dtype). `rollouts`/`proofs` are aligned with
    `challenge.items` (None when the miner did not serve one) or keyed by commit index.
    The caller checks the policy against the task first (`policy_mismatch`)."""
    if challenge.task_id != task.task_id:
        raise ValueError("the challenge is for another task")
    if challenge.k != task.audit.positions:
        raise ValueError(
            f"the challenge audits k = {challenge.k} positions, the task says {task.audit.positions}"
        )
    problems = list(problems) if problems is not None else task_problems(env, task)
    eos, pad = eos_token_ids(tokenizer), pad_token_id(tokenizer)
    vocab = int(model.get_output_embeddings().weight.shape[0])
    failures: list[Failure] = []
    rewards: list[int] = []
    to_prefill: list[tuple[int, Rollout, list[int], list[int]]] = []  # (index, rollout, prompt, positions)
    prompt_cache: dict[int, list[int]] = {}

    for slot, item in enumerate(challenge.items):
        r = _lookup(rollouts, slot, item.index)
        proof = _lookup(proofs, slot, item.index)
        i = item.index

        def fail(check: str, detail: str, i: int = i) -> None:
            failures.append(Failure(i, check, detail))

        if r is None:
            fail("missing", "the miner did not serve this rollout")
            rewards.append(0)
            continue
        p, g = task.problem_and_rollout(i)
        if (r.task_id, r.miner, r.p, r.g) != (task.task_id, challenge.miner, p, g):
            fail(
                "identity",
                f"rollout says task {r.task_id} miner {r.miner} p {r.p} g {r.g}; audited is "
                f"task {task.task_id} miner {challenge.miner} p {p} g {g}",
            )
        if proof is None or not verify_proof(root, leaf_hash(r), list(proof)):
            fail("inclusion", "the rollout's leaf is not under the committed root with this proof")
        if p not in prompt_cache:
            prompt_cache[p] = chat_prompt_ids(tokenizer, env.messages(problems[p]))
        prompt = prompt_cache[p]
        if list(r.prompt_ids) != prompt:
            fail("prompt", f"prompt differs from the environment's prompt for problem {p}")
        structural = check_structure(r, task, vocab, eos)
        for check, detail in structural:
            fail(check, detail)
        if any(check == "length" for check, _ in structural):
            rewards.append(0)
            continue
        text = tokenizer.decode(list(r.tokens), skip_special_tokens=True)
        reward = reward_to_micro(env.score(problems[p], text))
        rewards.append(reward)
        if r.claimed_reward != reward:
            fail(
                "reward",
                f"claimed {r.claimed_reward / REWARD_SCALE} but the environment scores {reward / REWARD_SCALE}",
            )
        to_prefill.append((i, r, prompt, item.positions(len(r.tokens), challenge.k)))

    for start in range(0, len(to_prefill), prefill.batch):
        chunk = to_prefill[start : start + prefill.batch]
        logits = prefill_logits(
            model,
            [c[2] for c in chunk],
            [c[1].tokens for c in chunk],
            [c[3] for c in chunk],
            pad,
            prefill.padding,
        )
        for (i, r, _, positions), row_logits in zip(chunk, logits, strict=True):
            failures.extend(check_positions(i, r, task, challenge.miner, positions, row_logits))

    score = sum(rewards) // len(rewards) if rewards else 0
    return Verdict(passed=not failures, score=score, audited=len(challenge.items), failures=failures)


def check_positions(
    index: int,
    r: Rollout,
    task: TaskSpec,
    miner: str,
    positions: list[int],
    logits: torch.Tensor,
) -> list[Failure]:
    """The sampler rules at the challenged positions: token = inverse-CDF draw at u (within the
    task's edge slack), and |claimed logprob - recomputed| <= the task's tolerance. u comes from the
    audited identity (the task, the challenged miner, (p, g) of the commit index), never from the
    rollout's own claims."""
    slack, tol = task.audit.edge_slack, task.audit.logprob_tol
    p, g = task.problem_and_rollout(index)
    us = sampler_us(task.seed_randomness, task.task_id, miner, p, g, max(positions) + 1) if positions else []
    logp_rows = scaled_log_softmax(logits, task.temperature)
    bad_tokens, bad_logprobs, first_token = [], [], None
    worst_lp = 0.0
    for row, t in enumerate(positions):
        token = r.tokens[t]
        distance, expected = cdf_interval_distance(logp_rows[row], token, us[t])
        if distance > slack:
            first_token = t if first_token is None else first_token
            bad_tokens.append(f"t={t} token {token} (sampler gives {expected}, off by {distance:.3g})")
        claimed = r.logprobs[t]
        diff = abs(claimed - float(logp_rows[row, token])) if math.isfinite(claimed) else math.inf
        if diff > tol:
            bad_logprobs.append(t)
            worst_lp = max(worst_lp, diff)
    out = []
    if bad_tokens:
        out.append(
            Failure(
                index,
                "token",
                f"{len(bad_tokens)}/{len(positions)} positions: " + "; ".join(bad_tokens[:3]),
                first_token,
            )
        )
    if bad_logprobs:
        out.append(
            Failure(
                index,
                "logprob",
                f"{len(bad_logprobs)}/{len(positions)} positions off by up to "
                f"{worst_lp:.3g} (first at t={bad_logprobs[0]})",
                bad_logprobs[0],
            )
        )
    return out


def _lookup(container, slot: int, index: int):
    if isinstance(container, Mapping):
        return container.get(index)
    return container[slot] if slot < len(container) else None
