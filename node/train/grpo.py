"""GRPO on LoRA parameters: group-normalized advantages, clipped ratio, optional KL.

One `GRPOTrainer.step(groups)` is one optimizer step over a list of groups (a group is one
prompt with several scored completions). Each group is one forward/backward micro-batch and
gradients accumulate across groups, so memory is bounded by the largest group, not the step.

Per completion token t of completion i in a group:

    A_i      = (r_i - mean(r)) / (std(r) + adv_eps)          (population std over the group)
    ratio    = exp(logp_new(t) - logp_old(t))
    surr     = min(ratio * A_i, clip(ratio, 1 - clip_eps, 1 + clip_eps) * A_i)
    kl       = exp(logp_ref - logp_new) - (logp_ref - logp_new) - 1     (k3; only if kl_beta > 0)
    loss_i   = mean_t(-surr + kl_beta * kl)
    loss     = sum_i loss_i / (number of completions in the step)

Logprobs are the temperature-scaled ones of the sampling policy (`softmax(logits / T)`),
recomputed under the local policy: a sender's logprobs are never used. `logp_old` is the
policy at the start of the step; with `inner_steps = 1` it equals the current one (ratio 1),
and the clip only acts from the second inner step on. The reference policy for the KL is the
base model with the adapter disabled.

CPU economy (`prompt_grad = False`, the default): the prompt, shared by the group, is
prefilled once without gradient and its KV cache is repeated for the completions; only the
last prompt token and the completion tokens are run with gradient. The logprobs are exact;
the gradient leaves out the adapter's effect on the prompt's keys and values. Set
`prompt_grad = True` for the full gradient (G full-length backward passes per group).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

MAX_GROUP_SIZE = 64


@dataclass(frozen=True)
class ScoredCompletion:
    """One completion of a group: its tokens and the locally computed reward parts."""

    tokens: tuple[int, ...]
    reward: float
    correct: float = 0.0
    formatted: float = 0.0


@dataclass(frozen=True)
class Group:
    """One prompt and its scored completions. `key` names the source, e.g. (task, p, miner)."""

    key: tuple
    prompt_ids: tuple[int, ...]
    completions: tuple[ScoredCompletion, ...]
    local: bool = True

    def rewards(self) -> list[float]:
        return [c.reward for c in self.completions]

    def advantages(self, eps: float = 1e-6) -> list[float]:
        return group_advantages(self.rewards(), eps)

    def has_signal(self) -> bool:
        """False when every completion got the same reward: all advantages are zero."""
        rewards = self.rewards()
        return len(rewards) > 1 and max(rewards) - min(rewards) > 1e-9


def group_advantages(rewards: Sequence[float], eps: float = 1e-6) -> list[float]:
    """(r - mean) / (std + eps) with the population std; all zeros for a constant group."""
    n = len(rewards)
    if n == 0:
        return []
    mean = sum(rewards) / n
    std = math.sqrt(sum((r - mean) ** 2 for r in rewards) / n)
    if std < 1e-9:
        return [0.0] * n
    return [(r - mean) / (std + eps) for r in rewards]


@dataclass
class GRPOConfig:
    learning_rate: float = 5e-4
    clip_eps: float = 0.2
    kl_beta: float = 0.0
    temperature: float = 0.7
    inner_steps: int = 1
    micro_batch: int = 8  # completions per forward/backward; larger groups are split
    pack_groups: bool = True  # several whole groups per forward/backward (detached prompt only)
    max_grad_norm: float = 1.0
    adv_eps: float = 1e-6
    weight_decay: float = 0.0
    prompt_grad: bool = False


@dataclass(frozen=True)
class StepStats:
    loss: float
    groups: int
    completions: int
    tokens: int
    grad_norm: float
    kl: float


def adapter_parameters(model, adapter_name: str | None = None) -> list[tuple[str, torch.nn.Parameter]]:
    """The LoRA parameters of one adapter (the active one when `adapter_name` is None)."""
    name = adapter_name or getattr(model, "active_adapter", None) or "default"
    params = [(n, p) for n, p in model.named_parameters() if ".lora_" in n and f".{name}." in n]
    if not params:
        raise ValueError(
            f"The model has no LoRA parameters for adapter {name!r}; wrap it with new_adapter first."
        )
    return params


def _token_logprobs(logits: torch.Tensor, targets: torch.Tensor, temperature: float) -> torch.Tensor:
    """log softmax(logits / T) at the target tokens, in float32."""
    logp = torch.log_softmax(logits.float() / temperature, dim=-1)
    return logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def _padded(completions: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(c) for c in completions)
    ids = torch.full((len(completions), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(completions), width), dtype=torch.float32)
    for row, tokens in enumerate(completions):
        ids[row, : len(tokens)] = torch.tensor(list(tokens), dtype=torch.long)
        mask[row, : len(tokens)] = 1.0
    return ids, mask


def completion_logprobs(
    model,
    prompt_ids: Sequence[int],
    completions: Sequence[Sequence[int]],
    temperature: float,
    prompt_grad: bool = False,
    pad_id: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(logprobs [N, L], mask [N, L]) of each completion after the shared prompt.

    Completions are right-padded; since every row has the same prompt, completion token j
    sits at position len(prompt) + j in every row, so no position ids are needed."""
    if not prompt_ids or not completions or any(len(c) == 0 for c in completions):
        raise ValueError("Need a non-empty prompt and non-empty completions to compute logprobs.")
    device = next(model.parameters()).device
    ids, mask = (x.to(device) for x in _padded(completions, pad_id))
    n, width = ids.shape
    prompt = torch.tensor([list(prompt_ids)], dtype=torch.long, device=device)
    if prompt_grad:
        full = torch.cat([prompt.expand(n, -1), ids], dim=1)
        attention = torch.cat(
            [torch.ones((n, prompt.shape[1]), dtype=torch.long, device=device), mask.long()], dim=1
        )
        out = model(input_ids=full, attention_mask=attention, logits_to_keep=width + 1, use_cache=False)
        logits = out.logits[:, :-1, :]
    else:
        head = prompt[:, :-1]
        cache = None
        if head.shape[1] > 0:
            with torch.no_grad():
                cache = model(input_ids=head, use_cache=True).past_key_values
            cache.batch_repeat_interleave(n)
        # The last prompt token runs with gradient so the first completion token's logprob does.
        tail = torch.cat([prompt[:, -1:].expand(n, -1), ids[:, :-1]], dim=1)
        attention = torch.cat(
            [torch.ones((n, head.shape[1] + 1), dtype=torch.long, device=device), mask[:, :-1].long()], dim=1
        )
        positions = (
            torch.arange(head.shape[1], head.shape[1] + width, device=device).unsqueeze(0).expand(n, -1)
        )
        out = model(
            input_ids=tail,
            attention_mask=attention,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
        )
        logits = out.logits
    return _token_logprobs(logits, ids, temperature) * mask, mask


def rows_logprobs(
    model,
    prompts: Sequence[Sequence[int]],
    completions: Sequence[Sequence[int]],
    temperature: float,
    pad_id: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`completion_logprobs` (detached prompt) for rows with different prompts, in one pass.

    Several groups train in one forward/backward: each distinct prompt but its last token is
    prefilled once without gradient (left-padded, positions counting real tokens), its KV cache
    is picked for each of its rows, and the last prompt token + the completion run with
    gradient, right-padded. Logprobs equal the per-group ones (a test checks them)."""
    if len(prompts) != len(completions) or not prompts:
        raise ValueError("Need one prompt per completion, and at least one row.")
    if any(len(p) < 1 for p in prompts) or any(len(c) == 0 for c in completions):
        raise ValueError("Need non-empty prompts and non-empty completions to compute logprobs.")
    device = next(model.parameters()).device
    distinct = sorted({tuple(p) for p in prompts})
    index = {p: i for i, p in enumerate(distinct)}
    pick = torch.tensor([index[tuple(p)] for p in prompts], dtype=torch.long, device=device)
    heads = [p[:-1] for p in distinct]
    head_width = max(len(h) for h in heads)
    cache = None
    head_mask = torch.zeros((len(distinct), head_width), dtype=torch.long)
    if head_width > 0:
        head_ids = torch.full((len(distinct), head_width), pad_id, dtype=torch.long)
        for i, h in enumerate(heads):
            if h:
                head_ids[i, head_width - len(h) :] = torch.tensor(list(h), dtype=torch.long)
                head_mask[i, head_width - len(h) :] = 1
        positions = (head_mask.cumsum(-1) - 1).clamp(min=0)
        with torch.no_grad():
            cache = model(
                input_ids=head_ids.to(device),
                attention_mask=head_mask.to(device),
                position_ids=positions.to(device),
                use_cache=True,
                logits_to_keep=1,
            ).past_key_values
        cache.batch_select_indices(pick)
    ids, mask = (x.to(device) for x in _padded(completions, pad_id))
    n, width = ids.shape
    last = torch.tensor([p[-1] for p in prompts], dtype=torch.long, device=device).unsqueeze(1)
    tail = torch.cat([last, ids[:, :-1]], dim=1)
    attention = torch.cat(
        [
            head_mask.to(device)[pick],
            torch.ones((n, 1), dtype=torch.long, device=device),
            mask[:, :-1].long(),
        ],
        dim=1,
    )
    starts = torch.tensor([len(p) - 1 for p in prompts], dtype=torch.long, device=device).unsqueeze(1)
    positions = starts + torch.arange(width, device=device).unsqueeze(0)
    out = model(
        input_ids=tail,
        attention_mask=attention,
        position_ids=positions,
        past_key_values=cache,
        use_cache=True,
    )
    return _token_logprobs(out.logits, ids, temperature) * mask, mask


class GRPOTrainer:
    """GRPO over one LoRA adapter of a peft model. Keeps its AdamW state across steps."""

    def __init__(
        self, model, config: GRPOConfig | None = None, adapter_name: str | None = None, pad_id: int = 0
    ):
        self.model = model
        self.config = config or GRPOConfig()
        self.adapter_name = adapter_name or getattr(model, "active_adapter", None) or "default"
        self.pad_id = pad_id
        self.params = [p for _, p in adapter_parameters(model, self.adapter_name)]
        self.optimizer = torch.optim.AdamW(
            self.params,
            lr=self.config.learning_rate,
            betas=(0.9, 0.99),
            weight_decay=self.config.weight_decay,
        )

    def _activate(self) -> None:
        """Make this trainer's adapter the active one and the only trainable parameters."""
        if hasattr(self.model, "set_adapter"):
            self.model.set_adapter(self.adapter_name)
        own = {id(p) for p in self.params}
        for p in self.model.parameters():
            p.requires_grad_(id(p) in own)

    def _chunks(
        self, groups: Sequence[Group]
    ) -> list[tuple[list[tuple[int, ...]], list[tuple[int, ...]], torch.Tensor]]:
        """(prompt per row, completion per row, advantages) per forward/backward pass.

        A group larger than `micro_batch` is split; with `pack_groups` (and a detached
        prompt) whole groups are packed together up to `micro_batch` completions per pass."""
        size = max(1, self.config.micro_batch)
        pieces = []
        for g in groups:
            advantages = g.advantages(self.config.adv_eps)
            for start in range(0, len(g.completions), size):
                rows = g.completions[start : start + size]
                pieces.append(
                    ([g.prompt_ids] * len(rows), [c.tokens for c in rows], advantages[start : start + size])
                )
        chunks: list[tuple[list, list, list]] = []
        for prompts, tokens, adv in pieces:
            pack = self.config.pack_groups and not self.config.prompt_grad
            if pack and chunks and len(chunks[-1][1]) + len(tokens) <= size:
                chunks[-1][0].extend(prompts)
                chunks[-1][1].extend(tokens)
                chunks[-1][2].extend(adv)
            else:
                chunks.append((list(prompts), list(tokens), list(adv)))
        return [(p, t, torch.tensor(a, dtype=torch.float32)) for p, t, a in chunks]

    def _logprobs(self, prompts, tokens) -> tuple[torch.Tensor, torch.Tensor]:
        if len(set(prompts)) == 1:
            return completion_logprobs(
                self.model, prompts[0], tokens, self.config.temperature, self.config.prompt_grad, self.pad_id
            )
        return rows_logprobs(self.model, prompts, tokens, self.config.temperature, self.pad_id)

    @torch.no_grad()
    def _reference(self, prompts, tokens) -> torch.Tensor:
        disable = getattr(self.model, "disable_adapter", None)
        with disable() if disable is not None else contextlib.nullcontext():
            if len(set(prompts)) == 1:
                logp, _ = completion_logprobs(
                    self.model, prompts[0], tokens, self.config.temperature, False, self.pad_id
                )
            else:
                logp, _ = rows_logprobs(self.model, prompts, tokens, self.config.temperature, self.pad_id)
        return logp

    def step(self, groups: Sequence[Group]) -> StepStats:
        """One optimizer step (with `inner_steps` updates) on the groups that carry a signal."""
        cfg = self.config
        groups = [g for g in groups if g.has_signal()]
        for g in groups:
            if len(g.completions) > MAX_GROUP_SIZE or not g.prompt_ids:
                raise ValueError(f"A group must have a prompt and at most {MAX_GROUP_SIZE} completions.")
        if not groups:
            return StepStats(0.0, 0, 0, 0, 0.0, 0.0)
        self._activate()
        self.model.train()
        total = sum(len(g.completions) for g in groups)
        chunks = self._chunks(groups)
        old: list[torch.Tensor | None] = [None] * len(chunks)
        refs: list[torch.Tensor | None] = [None] * len(chunks)
        if cfg.inner_steps > 1:
            with torch.no_grad():
                old = [self._logprobs(prompts, tokens)[0] for prompts, tokens, _ in chunks]
        if cfg.kl_beta > 0:
            refs = [self._reference(prompts, tokens) for prompts, tokens, _ in chunks]
        loss_sum, kl_sum, tokens_seen, grad_norm = 0.0, 0.0, 0, 0.0
        for _ in range(max(1, cfg.inner_steps)):
            self.optimizer.zero_grad(set_to_none=True)
            loss_sum, kl_sum, tokens_seen = 0.0, 0.0, 0
            for i, (prompts, tokens, adv) in enumerate(chunks):
                logp, mask = self._logprobs(prompts, tokens)
                old_logp = old[i] if old[i] is not None else logp.detach()
                ratio = torch.exp(logp - old_logp)
                a = adv.to(logp.device).unsqueeze(1)
                surrogate = torch.minimum(
                    ratio * a, torch.clamp(ratio, 1 - cfg.clip_eps, 1 + cfg.clip_eps) * a
                )
                per_token = -surrogate
                if refs[i] is not None:
                    delta = refs[i] - logp
                    kl = torch.exp(delta) - delta - 1
                    per_token = per_token + cfg.kl_beta * kl
                    kl_sum += float(((kl * mask).sum(1) / mask.sum(1)).sum())
                per_sequence = (per_token * mask).sum(1) / mask.sum(1)
                loss = per_sequence.sum() / total
                loss.backward()
                loss_sum += float(loss.detach())
                tokens_seen += int(mask.sum())
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.params, cfg.max_grad_norm))
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.model.eval()
        return StepStats(loss_sum, len(groups), total, tokens_seen, grad_norm, kl_sum / total)
