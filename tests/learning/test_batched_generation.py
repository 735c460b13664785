"""node/train/batched.py: many miners' rollouts in one decode, against the prover loop."""

from __future__ import annotations

import pytest
import torch

from node.envs import get_env
from node.train.batched import Row, _common_prefix, decode_in_chunks, decode_rows
from node.train.grpo import completion_logprobs
from verifier.models import new_adapter, tiny_model
from verifier.prf import sampler_us
from verifier.sampler import chat_prompt_ids, eos_token_ids, pad_token_id, sample_batch

MAX_TOKENS = 6


def _two_miners():
    """A tiny base with two adapters whose B matrices are non-zero (so they differ)."""
    model, _ = tiny_model(3)
    for k in range(2):
        model = new_adapter(model, rank=4, seed=k, adapter_name=f"m{k}")
    gen = torch.Generator().manual_seed(9)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    model.eval()
    return model


def _prompts(tokenizer, n=3):
    env = get_env("basic_arithmetic")
    problems = env.generate(b"batched-test", n, 1)
    return [tuple(chat_prompt_ids(tokenizer, env.messages(p))) for p in problems]


def _teacher_forced(model, adapter, prompt, tokens, temperature):
    model.set_adapter(adapter)
    with torch.no_grad():
        logp, _ = completion_logprobs(model, prompt, [tokens], temperature)
    return logp[0].tolist()


def test_common_prefix_leaves_every_prompt_a_token():
    assert _common_prefix([(1, 2, 3, 4), (1, 2, 5)]) == 2
    assert _common_prefix([(1, 2), (1, 2)]) == 1
    assert _common_prefix([(7, 2), (1, 2)]) == 0


def test_rows_of_two_adapters_get_their_own_adapters_logprobs(tokenizer):
    model = _two_miners()
    prompts = _prompts(tokenizer)
    assert _common_prefix(prompts) > 50  # the few-shot prefix really is shared (and cached once)
    rows = [
        Row(prompt, f"m{k}", tuple(sampler_us(b"s", 1, f"0x{k:040x}", p, g, MAX_TOKENS)))
        for k in range(2)
        for p, prompt in enumerate(prompts)
        for g in range(2)
    ]
    eos, pad = eos_token_ids(tokenizer), pad_token_id(tokenizer)
    done = decode_rows(model, rows, 1.0, MAX_TOKENS, eos, pad)
    assert len(done) == len(rows)
    same_as_prover = 0
    for row, c in zip(rows, done, strict=True):
        # What each row's adapter says of the chosen tokens, recomputed from scratch.
        assert c.logprobs == pytest.approx(
            _teacher_forced(model, row.adapter, row.prompt, c.tokens, 1.0), abs=2e-4
        )
        model.set_adapter(row.adapter)
        ref = sample_batch(model, [row.prompt], [row.us], 1.0, MAX_TOKENS, eos, pad)[0]
        same_as_prover += ref.tokens == c.tokens
    # The prover's draws: the same tokens except where float rounding of another batch shape
    # moves a CDF boundary across u (rare).
    assert same_as_prover >= len(rows) - 1
    # The check has teeth: the other adapter gives the same tokens other logprobs.
    row, c = rows[0], done[0]
    other = _teacher_forced(model, "m1", row.prompt, c.tokens, 1.0)
    assert max(abs(a - b) for a, b in zip(c.logprobs, other, strict=True)) > 1e-2


def test_greedy_rows_take_the_argmax_and_chunks_change_nothing(tokenizer):
    model = _two_miners()
    prompts = _prompts(tokenizer, 4)
    rows = [Row(prompt, f"m{k}") for k in range(2) for prompt in prompts]
    eos, pad = eos_token_ids(tokenizer), pad_token_id(tokenizer)
    whole = decode_rows(model, rows, 1.0, MAX_TOKENS, eos, pad)
    for row, c in zip(rows, whole, strict=True):
        model.set_adapter(row.adapter)
        with torch.no_grad():
            ids = torch.tensor([list(row.prompt) + c.tokens])
            logits = model(input_ids=ids).logits[0, len(row.prompt) - 1 : -1]
        assert logits.argmax(-1).tolist() == c.tokens
    chunked = decode_in_chunks(model, rows, 1.0, MAX_TOKENS, eos, pad, chunk=3)
    assert [c.tokens for c in chunked] == [c.tokens for c in whole]


def test_bad_rows_are_refused(tokenizer):
    model = _two_miners()
    prompt = _prompts(tokenizer, 1)[0]
    with pytest.raises(ValueError, match="draws"):
        decode_rows(model, [Row(prompt, "m0", (0.5,))], 1.0, MAX_TOKENS, frozenset([0]), 0)
    assert decode_rows(model, [], 1.0, MAX_TOKENS, frozenset([0]), 0) == []
