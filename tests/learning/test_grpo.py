"""GRPO on the tiny model: a step moves likelihood in the direction of the advantage."""

import pytest
import torch

from node.train.grpo import (
    Group,
    GRPOConfig,
    GRPOTrainer,
    ScoredCompletion,
    completion_logprobs,
    group_advantages,
    rows_logprobs,
)
from verifier.models import adapter_hash, new_adapter, tiny_model
from verifier.sampler import chat_prompt_ids


def _setup(tokenizer, seed=0):
    model, _ = tiny_model(seed)
    peft_model = new_adapter(model, rank=4, seed=seed)
    prompt = tuple(chat_prompt_ids(tokenizer, [{"role": "user", "content": "Calculate 3 + 4."}]))
    good = tuple(tokenizer.encode("<answer>7</answer>")) + (tokenizer.eos_token_id,)
    bad = tuple(tokenizer.encode("<answer>9</answer>")) + (tokenizer.eos_token_id,)
    return peft_model, prompt, good, bad


def _seq_logprob(model, prompt, tokens, prompt_grad=True):
    with torch.no_grad():
        logp, mask = completion_logprobs(model, prompt, [tokens], 1.0, prompt_grad)
    return float((logp * mask).sum())


def test_group_advantages_are_normalized_and_zero_for_constant_groups():
    adv = group_advantages([1.0, 0.0, 0.0, 1.0])
    assert adv == pytest.approx([1.0, -1.0, -1.0, 1.0], abs=1e-5)
    assert group_advantages([0.2, 0.2, 0.2]) == [0.0, 0.0, 0.0]
    assert sum(group_advantages([0.8, 0.2, 0.0])) == pytest.approx(0.0, abs=1e-9)


def test_detached_prompt_logprobs_equal_full_forward(tokenizer):
    model, prompt, good, bad = _setup(tokenizer)
    with torch.no_grad():
        full, mask_full = completion_logprobs(model, prompt, [good, bad[:3]], 0.7, prompt_grad=True)
        cached, mask_cached = completion_logprobs(model, prompt, [good, bad[:3]], 0.7, prompt_grad=False)
    assert torch.equal(mask_full, mask_cached)
    assert torch.allclose(full, cached, atol=1e-5)


@pytest.mark.parametrize("prompt_grad", [False, True])
def test_grpo_step_raises_positive_and_lowers_negative_completion(tokenizer, prompt_grad):
    model, prompt, good, bad = _setup(tokenizer)
    group = Group(
        key=(1, 0, "m"),
        prompt_ids=prompt,
        completions=(ScoredCompletion(good, 1.0, 1.0, 1.0), ScoredCompletion(bad, 0.0, 0.0, 1.0)),
    )
    before_good, before_bad = _seq_logprob(model, prompt, good), _seq_logprob(model, prompt, bad)
    hash_before = adapter_hash(model)
    trainer = GRPOTrainer(model, GRPOConfig(learning_rate=1e-2, temperature=1.0, prompt_grad=prompt_grad))
    stats = trainer.step([group])
    assert stats.groups == 1 and stats.completions == 2
    after_good, after_bad = _seq_logprob(model, prompt, good), _seq_logprob(model, prompt, bad)
    assert after_good > before_good
    assert after_bad < before_bad
    assert adapter_hash(model) != hash_before


def test_grpo_trains_lora_parameters_only(tokenizer):
    model, prompt, good, bad = _setup(tokenizer)
    base = {n: p.detach().clone() for n, p in model.named_parameters() if ".lora_" not in n}
    group = Group((1, 0, "m"), prompt, (ScoredCompletion(good, 1.0), ScoredCompletion(bad, 0.0)))
    GRPOTrainer(model, GRPOConfig(learning_rate=1e-2, kl_beta=0.1, inner_steps=2)).step([group])
    for name, param in model.named_parameters():
        if ".lora_" not in name:
            assert torch.equal(param, base[name]), name


def test_zero_advantage_groups_make_no_step(tokenizer):
    model, prompt, good, bad = _setup(tokenizer)
    hash_before = adapter_hash(model)
    flat = Group((1, 0, "m"), prompt, (ScoredCompletion(good, 1.0), ScoredCompletion(bad, 1.0)))
    stats = GRPOTrainer(model, GRPOConfig(learning_rate=1e-2)).step([flat])
    assert stats.groups == 0
    assert adapter_hash(model) == hash_before


def test_groups_from_triples_keeps_only_well_formed_groups():
    from node.train import groups_from_triples

    raw = [
        [((1, 2), (5, 6), 1.0), ((1, 2), (7,), 0.0)],  # ok
        [((1, 2), (5,), 1.0)],  # one completion: no group
        [((1, 2), (5,), 1.0), ((3,), (6,), 0.0)],  # two prompts: not one group
        [((1, 2), (), 1.0), ((1, 2), (6,), 0.0), ((1, 2), (8,), 0.5)],  # empty completion dropped
    ]
    groups = groups_from_triples(raw, task_id=3)
    assert [g.key for g in groups] == [(3, 0), (3, 3)]
    assert groups[1].rewards() == [0.0, 0.5]


def test_rows_of_several_prompts_get_the_per_group_logprobs(tokenizer):
    model, prompt, good, bad = _setup(tokenizer)
    other = tuple(chat_prompt_ids(tokenizer, [{"role": "user", "content": "Calculate 12 + 30, please."}]))
    prompts = [prompt, other, prompt, other]
    tokens = [good, bad, bad[:3], good[:2]]
    with torch.no_grad():
        rows, mask = rows_logprobs(model, prompts, tokens, 0.7)
        for i, (p, t) in enumerate(zip(prompts, tokens, strict=True)):
            alone, alone_mask = completion_logprobs(model, p, [t], 0.7, prompt_grad=True)
            width = alone.shape[1]
            assert torch.equal(mask[i, :width], alone_mask[0])
            assert torch.allclose(rows[i, :width], alone[0], atol=1e-5)
            assert float(mask[i, width:].sum()) == 0


def test_packed_groups_take_the_same_step_as_one_group_per_pass(tokenizer):
    """Packing groups into one forward/backward changes the cost, not the update."""
    _, prompt, good, bad = _setup(tokenizer)
    other = tuple(chat_prompt_ids(tokenizer, [{"role": "user", "content": "Calculate 12 + 30, please."}]))
    groups = [
        Group((1, 0, "m"), prompt, (ScoredCompletion(good, 1.0), ScoredCompletion(bad, 0.0))),
        Group((1, 1, "m"), other, (ScoredCompletion(bad, 0.8), ScoredCompletion(good[:3], 0.1))),
    ]
    hashes = []
    for pack in (False, True):
        model, *_ = _setup(tokenizer)
        trainer = GRPOTrainer(model, GRPOConfig(learning_rate=1e-2, temperature=1.0, pack_groups=pack))
        assert len(trainer._chunks(groups)) == (1 if pack else 2)
        # Plain SGD: the change is the (clipped) gradient itself, not Adam's sign-like step.
        trainer.optimizer = torch.optim.SGD(trainer.params, lr=1.0)
        trainer.step(groups)
        hashes.append({n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n})
    for name, value in hashes[0].items():
        assert torch.allclose(value, hashes[1][name], atol=1e-5), name
