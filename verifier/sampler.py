"""The verifiable sampler and the prover's decode loop (PROTOCOL.md §5).

At decode step t of rollout (p, g) the miner draws `u = sampler_u(seed, task, miner, p, g, t)` and
takes the inverse-CDF draw of `softmax(logits / T)` at u, computed in float64 over the model's
float32 logits, in token-id order. It records the chosen token and its T-scaled logprob from the
same forward pass, so a validator's prefill of the committed text can check both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from verifier.env import Environment, Problem
from verifier.prf import problem_seed, sampler_us
from verifier.rollout import Rollout, TaskSpec, reward_to_micro

# A token source picks the next tokens from the step's logits. The honest one is `inverse_cdf_draw`;
# tests plug in cheaters (greedy, another temperature, a cheap model's choice...).
# (logits [B, V] float32, u [B] float64, temperature) -> (tokens [B] int64, logprobs [B] float64)
TokenSource = Callable[[torch.Tensor, torch.Tensor, float], tuple[torch.Tensor, torch.Tensor]]


def scaled_log_softmax(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """log softmax(logits / T) in float64 over the last axis (logits are cast from float32)."""
    return torch.log_softmax(logits.to(torch.float64) / temperature, dim=-1)


def inverse_cdf_index(logp: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Smallest i with c[i] > u * c[V-1], where c = cumsum(exp(logp)) in token-id order."""
    cdf = torch.cumsum(torch.exp(logp), dim=-1)
    x = (u.to(torch.float64) * cdf[..., -1]).unsqueeze(-1)
    idx = torch.searchsorted(cdf, x, right=True).squeeze(-1)
    return idx.clamp(max=logp.shape[-1] - 1)


def inverse_cdf_draw(
    logits: torch.Tensor, u: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The honest token source: inverse-CDF tokens and their T-scaled logprobs."""
    logp = scaled_log_softmax(logits, temperature)
    tokens = inverse_cdf_index(logp, u)
    return tokens, logp.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)


def chat_prompt_ids(tokenizer, messages: list[dict[str, str]]) -> list[int]:
    """The prompt tokens: the tokenizer's chat template of the messages with the generation prompt."""
    out = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    if hasattr(out, "keys"):
        out = out["input_ids"]
    return [int(x) for x in out]


def eos_token_ids(tokenizer) -> frozenset[int]:
    """Tokens that end a completion: the tokenizer's EOS token."""
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has no EOS token; rollouts could never terminate by EOS")
    return frozenset([int(tokenizer.eos_token_id)])


def pad_token_id(tokenizer) -> int:
    """A token used only in padding positions (masked out, never sampled or checked)."""
    return int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id)


@dataclass(frozen=True)
class Completion:
    tokens: list[int]
    logprobs: list[float]


def left_pad(
    prompts: Sequence[Sequence[int]], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Left-padded input ids, attention mask and position ids (positions count real tokens only)."""
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt) :] = torch.tensor(list(prompt), dtype=torch.long)
        mask[row, width - len(prompt) :] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids, mask, positions


@torch.inference_mode()
def sample_batch(
    model,
    prompts: Sequence[Sequence[int]],
    us: Sequence[Sequence[float]],
    temperature: float,
    max_tokens: int,
    eos_ids: frozenset[int],
    pad_id: int,
    token_source: TokenSource = inverse_cdf_draw,
) -> list[Completion]:
    """Decode a batch with a KV cache; row r uses `us[r][t]` at step t. Stops at EOS or max_tokens."""
    if len(prompts) != len(us) or not prompts:
        raise ValueError("need one u sequence per prompt, and at least one prompt")
    if any(len(u) < max_tokens for u in us):
        raise ValueError("each row needs max_tokens draws")
    batch = len(prompts)
    device = next(model.parameters()).device
    ids, mask, positions = (x.to(device) for x in left_pad(prompts, pad_id))
    u_table = torch.tensor([list(u[:max_tokens]) for u in us], dtype=torch.float64, device=device)
    eos = torch.tensor(sorted(eos_ids), dtype=torch.long, device=device)
    active = torch.arange(batch, device=device)  # original row of each row still decoding
    out_tokens: list[list[int]] = [[] for _ in range(batch)]
    out_logprobs: list[list[float]] = [[] for _ in range(batch)]
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1)
    cache = out.past_key_values
    for t in range(max_tokens):
        logits = out.logits[:, -1, :].float()
        tokens, logprobs = token_source(logits, u_table[active, t], temperature)
        for row, (tok, lp) in enumerate(zip(tokens.tolist(), logprobs.tolist(), strict=True)):
            out_tokens[int(active[row])].append(tok)
            out_logprobs[int(active[row])].append(lp)
        if t == max_tokens - 1:
            break
        keep = ~torch.isin(tokens, eos)
        if not bool(keep.any()):
            break
        if not bool(keep.all()):
            # Finished rows leave the batch (cache included), so stragglers do not pay for them.
            kept = keep.nonzero().squeeze(-1)
            cache.batch_select_indices(kept)
            active, tokens, mask, positions = active[kept], tokens[kept], mask[kept], positions[kept]
        mask = torch.cat([mask, torch.ones((len(active), 1), dtype=mask.dtype, device=device)], dim=-1)
        positions = positions[:, -1:] + 1
        out = model(
            input_ids=tokens.unsqueeze(-1),
            attention_mask=mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
        )
    return [Completion(tokens=t, logprobs=lp) for t, lp in zip(out_tokens, out_logprobs, strict=True)]


def task_problems(env: Environment, task: TaskSpec) -> list[Problem]:
    """The task's problems: `env.generate(problem_seed(seedRandomness, taskId), P, difficulty)`."""
    problems = env.generate(
        problem_seed(task.seed_randomness, task.task_id), task.num_problems, task.difficulty
    )
    if len(problems) != task.num_problems:
        raise ValueError(f"environment returned {len(problems)} problems, the task needs {task.num_problems}")
    return problems


def prove_rollouts(
    model,
    tokenizer,
    env: Environment,
    task: TaskSpec,
    miner: str,
    batch_size: int = 8,
    indices: Sequence[tuple[int, int]] | None = None,
    token_source: TokenSource = inverse_cdf_draw,
    problems: Sequence[Problem] | None = None,
) -> list[Rollout]:
    """Generate the miner's rollouts (p, g) for a task (all P*G by default, in commit order),
    score them with the environment, and return them ready to commit."""
    problems = list(problems) if problems is not None else task_problems(env, task)
    pairs = (
        list(indices)
        if indices is not None
        else [task.problem_and_rollout(i) for i in range(task.total_rollouts)]
    )
    prompts = {p: chat_prompt_ids(tokenizer, env.messages(problems[p])) for p in {p for p, _ in pairs}}
    eos, pad = eos_token_ids(tokenizer), pad_token_id(tokenizer)
    rollouts: list[Rollout] = []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        us = [sampler_us(task.seed_randomness, task.task_id, miner, p, g, task.max_tokens) for p, g in chunk]
        completions = sample_batch(
            model,
            [prompts[p] for p, _ in chunk],
            us,
            task.temperature,
            task.max_tokens,
            eos,
            pad,
            token_source,
        )
        for (p, g), c in zip(chunk, completions, strict=True):
            text = tokenizer.decode(c.tokens, skip_special_tokens=True)
            reward = reward_to_micro(env.score(problems[p], text))
            rollouts.append(
                Rollout(
                    task.task_id,
                    miner,
                    p,
                    g,
                    tuple(prompts[p]),
                    tuple(c.tokens),
                    tuple(c.logprobs),
                    reward,
                    text,
                )
            )
    return rollouts
