"""Cheating miners for the verify figures and the verifier's tests: each breaks exactly one rule
of the protocol (PROTOCOL.md §9.4)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch

from verifier.rollout import Rollout, TaskSpec
from verifier.sampler import (
    TokenSource,
    inverse_cdf_draw,
    pad_token_id,
    prove_rollouts,
    scaled_log_softmax,
)
from verifier.verify import prefill_logprobs


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
