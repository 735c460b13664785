"""Rollouts for many miners in one decode loop: the learning bench's cheap round (issue 13).

The prover loop (`verifier.sampler.prove_rollouts`) decodes one miner's rollouts, and every row
prefills its whole prompt. For learning, where the rollouts are never committed, the same draws
can be made much cheaper:

1. The prompts of an environment share a long few-shot prefix (about 90 of 108 tokens for
   basic_arithmetic). It is prefilled once per adapter: one row per miner, each with its own
   LoRA adapter (peft's mixed-adapter batch, `adapter_names=`).
2. Each (adapter, problem) then prefills only its own tail, once, and its KV cache is repeated
   for its G completions (the prompt is the same for the whole group).
3. All rows of all miners decode together, one forward per token, with the KV cache; rows that
   reached EOS leave the batch.

The token rule is the prover's: with `us` the inverse-CDF draw of softmax(logits / T) at the
PRF's u (same draws, so the same tokens up to float rounding of a differently shaped batch);
`us=None` takes the greedy (argmax) token, used for held-out evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from verifier.sampler import Completion, inverse_cdf_draw


@dataclass(frozen=True)
class Row:
    """One completion to decode: its prompt, its adapter (None: the model as it is), its draws."""

    prompt: tuple[int, ...]
    adapter: str | None = None
    us: tuple[float, ...] | None = None  # None: greedy


def _common_prefix(prompts: Sequence[Sequence[int]]) -> int:
    """Length of the longest common prefix, leaving at least one own token to every prompt."""
    shortest = min(len(p) for p in prompts)
    n = 0
    first = prompts[0]
    while n < shortest - 1 and all(p[n] == first[n] for p in prompts):
        n += 1
    return n


def _choose(
    logits: torch.Tensor, u: torch.Tensor, greedy: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The prover's inverse-CDF draw (float64 over the vocabulary) for sampled rows; for greedy
    rows the argmax and its float32 T-scaled logprob, without the float64 pass they never need."""
    tokens = torch.empty(logits.shape[0], dtype=torch.long, device=logits.device)
    logprobs = torch.empty(logits.shape[0], dtype=torch.float64, device=logits.device)
    if bool(greedy.any()):
        scaled = logits[greedy] / temperature
        top = scaled.argmax(-1)
        tokens[greedy] = top
        lp = scaled.gather(-1, top.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(scaled, dim=-1)
        logprobs[greedy] = lp.double()
    sampled = ~greedy
    if bool(sampled.any()):
        tokens[sampled], logprobs[sampled] = inverse_cdf_draw(logits[sampled], u[sampled], temperature)
    return tokens, logprobs


class _AdapterRouting:
    """peft's mixed-adapter batch (`adapter_names`), with the hooks registered once per decode.

    Passing `adapter_names=` to a PeftModel walks every module twice per forward to register and
    check hooks: 12 % of a decode's CPU time in the profile (docs/LEARNING.md §6). The same
    pre-forward hook, registered once on each LoRA layer, hands every layer the current rows'
    adapter names instead."""

    def __init__(self, model) -> None:
        from peft.tuners.lora import LoraLayer

        self.names: list[str] | None = None
        self.handles = [
            m.register_forward_pre_hook(self._hook, with_kwargs=True)
            for m in model.modules()
            if isinstance(m, LoraLayer)
        ]
        if not self.handles:
            raise ValueError("rows name adapters, but the model has no LoRA layers")

    def _hook(self, module, args, kwargs):
        if self.names is not None:
            kwargs["adapter_names"] = self.names
        return args, kwargs

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()


def _forward(model, routing: _AdapterRouting | None, adapters: list[str | None] | None, **kwargs):
    if routing is not None and adapters is not None:
        routing.names = [a if a is not None else "__base__" for a in adapters]
    return model(**kwargs)


@torch.inference_mode()
def decode_rows(
    model, rows: Sequence[Row], temperature: float, max_tokens: int, eos_ids: frozenset[int], pad_id: int
) -> list[Completion]:
    """Decode every row (see the module text); returns one Completion per row, in order."""
    if not rows:
        return []
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    if any(r.us is not None and len(r.us) < max_tokens for r in rows):
        raise ValueError("each sampled row needs max_tokens draws")
    adapters = sorted({r.adapter for r in rows}, key=lambda a: (a is not None, a or ""))
    mixed = any(a is not None for a in adapters)
    stems = sorted({(r.adapter, r.prompt) for r in rows}, key=lambda s: (s[0] or "", s[1]))
    stem_of = {s: i for i, s in enumerate(stems)}
    shared = _common_prefix([p for _, p in stems])
    if mixed and getattr(model, "training", False):
        raise ValueError("mixed-adapter decoding needs the model in eval mode")
    routing = _AdapterRouting(model) if mixed else None
    try:
        return _decode(
            model, rows, routing, adapters, stems, stem_of, shared, temperature, max_tokens, eos_ids, pad_id
        )
    finally:
        if routing is not None:
            routing.close()


def _decode(model, rows, routing, adapters, stems, stem_of, shared, temperature, max_tokens, eos_ids, pad_id):
    device = next(model.parameters()).device
    mixed = routing is not None

    # 1. The shared prefix, once per adapter.
    cache = None
    if shared > 0:
        prefix = torch.tensor([list(stems[0][1][:shared])] * len(adapters), dtype=torch.long, device=device)
        cache = _forward(
            model, routing, adapters if mixed else None, input_ids=prefix, use_cache=True, logits_to_keep=1
        ).past_key_values
        cache.batch_select_indices(
            torch.tensor([adapters.index(a) for a, _ in stems], dtype=torch.long, device=device)
        )
    # 2. Each stem's own tail, once: left-padded after the prefix, pads masked out.
    tails = [p[shared:] for _, p in stems]
    width = max(len(t) for t in tails)
    ids = torch.full((len(stems), width), pad_id, dtype=torch.long)
    tail_mask = torch.zeros((len(stems), width), dtype=torch.long)
    for i, t in enumerate(tails):
        ids[i, width - len(t) :] = torch.tensor(list(t), dtype=torch.long)
        tail_mask[i, width - len(t) :] = 1
    mask = torch.cat([torch.ones((len(stems), shared), dtype=torch.long), tail_mask], dim=1).to(device)
    positions = (shared + tail_mask.cumsum(-1) - 1).clamp(min=shared).to(device)
    stem_adapters = [a for a, _ in stems] if mixed else None
    out = _forward(
        model,
        routing,
        stem_adapters,
        input_ids=ids.to(device),
        attention_mask=mask,
        position_ids=positions,
        past_key_values=cache,
        use_cache=True,
        logits_to_keep=1,
    )
    # 3. Every row from its stem; all rows decode together.
    pick = torch.tensor([stem_of[(r.adapter, r.prompt)] for r in rows], dtype=torch.long, device=device)
    cache = out.past_key_values
    cache.batch_select_indices(pick)
    logits = out.logits[:, -1, :].float()[pick]
    mask, positions = mask[pick], positions[pick][:, -1:]
    row_adapters = [r.adapter for r in rows]
    greedy = torch.tensor([r.us is None for r in rows], device=device)
    u_table = torch.tensor(
        [list(r.us[:max_tokens]) if r.us is not None else [0.5] * max_tokens for r in rows],
        dtype=torch.float64,
        device=device,
    )
    eos = torch.tensor(sorted(eos_ids), dtype=torch.long, device=device)
    active = torch.arange(len(rows), device=device)
    out_tokens: list[list[int]] = [[] for _ in rows]
    out_logprobs: list[list[float]] = [[] for _ in rows]
    for t in range(max_tokens):
        tokens, logprobs = _choose(logits, u_table[active, t], greedy[active], temperature)
        for row, (tok, lp) in enumerate(zip(tokens.tolist(), logprobs.tolist(), strict=True)):
            out_tokens[int(active[row])].append(tok)
            out_logprobs[int(active[row])].append(lp)
        if t == max_tokens - 1:
            break
        keep = ~torch.isin(tokens, eos)
        if not bool(keep.any()):
            break
        if not bool(keep.all()):
            kept = keep.nonzero().squeeze(-1)
            cache.batch_select_indices(kept)
            active, tokens, mask, positions = active[kept], tokens[kept], mask[kept], positions[kept]
        mask = torch.cat([mask, torch.ones((len(active), 1), dtype=mask.dtype, device=device)], dim=-1)
        positions = positions + 1
        out = _forward(
            model,
            routing,
            [row_adapters[int(i)] for i in active] if mixed else None,
            input_ids=tokens.unsqueeze(-1),
            attention_mask=mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
        )
        logits = out.logits[:, -1, :].float()
    return [Completion(tokens=t, logprobs=lp) for t, lp in zip(out_tokens, out_logprobs, strict=True)]


def decode_in_chunks(
    model,
    rows: Sequence[Row],
    temperature: float,
    max_tokens: int,
    eos_ids: frozenset[int],
    pad_id: int,
    chunk: int = 256,
) -> list[Completion]:
    """`decode_rows` over chunks of at most `chunk` rows (memory), groups kept together."""
    out: list[Completion] = []
    for start in range(0, len(rows), max(1, chunk)):
        out += decode_rows(model, rows[start : start + chunk], temperature, max_tokens, eos_ids, pad_id)
    return out
