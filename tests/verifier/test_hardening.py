"""Issue 14's attacks, each caught: a targeted answer edit of 2-3 tokens in long rollouts (every
position is audited now), a policy that differs from the task (base model, adapter, dtype,
tokenizer: the reason names which), and audit parameters that come from the task only."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
import torch
from verifier_helpers import MINER, ArithmeticEnv, make_task

from bench.cheaters import refill_logprobs
from verifier.challenge import get_challenge
from verifier.commitments import MerkleTree, leaf_hash
from verifier.models import model_hash, tiny_model
from verifier.params import DTYPE_BF16, AuditParams, AuditParamsError
from verifier.rollout import reward_to_micro
from verifier.sampler import prove_rollouts, task_problems
from verifier.verify import policy_mismatch, verify_rollouts

CHALLENGE_R = b"\x77" * 32
OLD_RULE = AuditParams(positions=32, logprob_tol_nano=500_000, edge_slack_nano=500_000)
SMOLLM2_TOKENIZER_HASH = "c669e694a24d8f0a33f5d578dbe700d51827628a10842ef5d8c3a0eea70b0815"


def answer_edit(model, tok, env, task, rollouts):
    """The cheat of issue 14: patch the gold answer's tokens over the last tokens of each rollout whose
    answer is wrong, then recompute logprobs honestly (they match the policy at every position) and
    claim the reward the edited text earns. Returns (edited rollouts, the edited positions of each)."""
    problems = task_problems(env, task)
    edited, where = [], []
    for r in rollouts:
        answer = tok.encode(" " + problems[r.p].answer, add_special_tokens=False)
        assert 1 <= len(answer) <= 3
        n = len(r.tokens)
        assert n == task.max_tokens  # the random model never emits EOS: the answer goes last
        start = n - len(answer)
        tokens = r.tokens[:start] + tuple(answer) + r.tokens[start + len(answer) :]
        edited.append(replace(r, tokens=tokens))
        where.append([start + i for i in range(len(answer)) if tokens[start + i] != r.tokens[start + i]])
    edited = refill_logprobs(model, tok, task, edited)
    out = []
    for r in edited:
        text = tok.decode(list(r.tokens), skip_special_tokens=True)
        out.append(replace(r, claimed_reward=reward_to_micro(env.score(problems[r.p], text))))
    return out, where


def audit_each(model, tok, env, task, committed):
    """One verdict per rollout (each audited alone), under the task's audit parameters."""
    tree = MerkleTree.of_rollouts(committed)
    every = replace(task.audit, rollouts=task.total_rollouts)
    full = get_challenge(CHALLENGE_R, task.task_id, MINER, task.total_rollouts, every)
    items = {it.index: it for it in full.items}
    verdicts = []
    for r in committed:
        ch = replace(full, items=(items[task.rollout_index(r.p, r.g)],))
        verdicts.append(
            verify_rollouts(model, tok, env, task, tree.root, [r], [tree.proof(leaf_hash(r))], ch)
        )
    return verdicts


@pytest.mark.parametrize("length", [64, 128, 256])
def test_answer_edit_is_caught_at_every_length(tiny, length):
    model, tok = tiny
    env = ArithmeticEnv()
    task = make_task(task_id=1400 + length, max_tokens=length, P=2, G=2)
    honest = prove_rollouts(model, tok, env, task, MINER, batch_size=4)
    edited, where = answer_edit(model, tok, env, task, honest)
    assert all(r.claimed_reward == 1_000_000 for r in edited) and all(1 <= len(w) <= 3 for w in where)
    # Every position audited (the default, k = 0): every edited rollout fails, at the edit.
    for verdict, w in zip(audit_each(model, tok, env, task, edited), where, strict=True):
        assert not verdict.passed and "token" in verdict.failed_checks()
        token_failure = next(f for f in verdict.failures if f.check == "token")
        assert f"t={w[0]} " in token_failure.detail and token_failure.position == w[0]
    # The same honest rollouts pass under the same rule (the catch is the edit, not the rule).
    assert all(v.passed for v in audit_each(model, tok, env, task, honest))


def test_answer_edit_escaped_the_old_k32_rule_at_256_tokens(tiny):
    """Why k = 0: with 32 sampled positions of 256, a 2-3 token edit is missed most of the time."""
    model, tok = tiny
    env = ArithmeticEnv()
    task = make_task(task_id=1456, max_tokens=256, P=2, G=4)
    edited, _ = answer_edit(model, tok, env, task, prove_rollouts(model, tok, env, task, MINER, batch_size=8))
    old = audit_each(model, tok, env, replace(task, audit=OLD_RULE), edited)
    assert any(v.passed for v in old)
    assert not any(v.passed for v in audit_each(model, tok, env, task, edited))


def identity(model, tok, task, **kw):
    vocab = int(model.get_output_embeddings().weight.shape[0])
    dtype = next(model.parameters()).dtype
    return policy_mismatch(
        task, base_hash=model_hash(model), dtype=dtype, tokenizer=tok, vocab_size=vocab, **kw
    )


def test_wrong_base_model_is_named(tiny):
    model, tok = tiny
    task = replace(make_task(), base_model_hash=model_hash(model))
    assert identity(model, tok, task) is None
    other = tiny_model(seed=1)[0]
    mismatch = identity(other, tok, task)
    assert mismatch is not None and mismatch.what == "base model"
    assert model_hash(model).hex() in str(mismatch) and model_hash(other).hex() in str(mismatch)


def test_wrong_adapter_is_named(tiny):
    from verifier.models import adapter_hash, new_adapter

    model, tok = tiny
    task = replace(make_task(), base_model_hash=model_hash(model))
    policy = new_adapter(copy.deepcopy(model), rank=4, seed=1)
    joined = adapter_hash(policy)
    assert identity(policy, tok, task, adapter_hash=joined, joined_adapter_hash=joined) is None
    with torch.no_grad():
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.add_(0.01)
    mismatch = identity(policy, tok, task, adapter_hash=adapter_hash(policy), joined_adapter_hash=joined)
    assert mismatch is not None and mismatch.what == "adapter" and joined.hex() in mismatch.detail


def test_dtype_is_named_and_bf16_is_refused(tiny):
    model, tok = tiny
    fp32 = make_task()
    bf16 = replace(fp32, audit=replace(fp32.audit, dtype=DTYPE_BF16))
    mismatch = identity(model, tok, bf16)
    assert mismatch is not None and mismatch.what == "dtype" and "bf16" in mismatch.detail
    half = copy.deepcopy(model).to(torch.bfloat16)
    mismatch = identity(half, tok, fp32)
    assert mismatch is not None and mismatch.what == "dtype" and "bfloat16" in mismatch.detail


def test_tokenizer_that_does_not_fit_the_model_is_named(tiny):
    model, tok = tiny
    mismatch = policy_mismatch(
        make_task(), base_hash=model_hash(model), dtype=torch.float32, tokenizer=tok, vocab_size=1000
    )
    assert mismatch is not None and mismatch.what == "tokenizer" and "vocabulary" in mismatch.detail


def test_verify_refuses_a_challenge_with_other_k_than_the_task(tiny):
    model, tok = tiny
    env = ArithmeticEnv()
    task = make_task(max_tokens=8, P=1, G=2)
    rollouts = prove_rollouts(model, tok, env, task, MINER)
    tree = MerkleTree.of_rollouts(rollouts)
    ch = get_challenge(CHALLENGE_R, task.task_id, MINER, 2, AuditParams(positions=4))
    with pytest.raises(ValueError, match="k = 4"):
        verify_rollouts(model, tok, env, task, tree.root, rollouts, [[], []], ch)


def test_audit_params_are_validated():
    assert AuditParams().to_mapping() == AuditParams.from_mapping(AuditParams().to_mapping()).to_mapping()
    for bad in (
        {"audit_rollouts": 0},
        {"audit_positions": -1},
        {"logprob_tol_nano": 0},
        {"edge_slack_nano": -1},
        {"dtype": 2},
        {"audit_rollouts": "four"},
    ):
        with pytest.raises(AuditParamsError):
            AuditParams.from_mapping(bad)
    assert AuditParams.of_tolerances(1e-4, 1e-5).logprob_tol_nano == 100_000


def test_chain_task_defaults_are_the_protocol_audit_defaults():
    """chain/ cannot import the verifier (torch), so its TaskParams defaults are numbers: they must be
    verifier.params' calibrated defaults, or a task posted with defaults audits with other tolerances."""
    from chain.clients import TaskParams
    from verifier.params import AuditParams

    fields = TaskParams.__dataclass_fields__
    default = AuditParams()
    assert fields["audit_rollouts"].default == default.rollouts
    assert fields["audit_positions"].default == default.positions
    assert fields["logprob_tol_nano"].default == default.logprob_tol_nano
    assert fields["edge_slack_nano"].default == default.edge_slack_nano
    assert int(fields["dtype"].default) == default.dtype


def test_tokenizer_hash_is_the_loaded_tokenizer_s_identity(tiny, tokenizer_variants):
    """Loading the same tokenizer twice gives the same hash; an added token, another chat template,
    pre-tokenizer, normalizer or BPE option gives another (PROTOCOL.md §5)."""
    from verifier.models import load_tokenizer
    from verifier.tokenizer import tokenizer_hash

    _, tok = tiny
    honest = tokenizer_hash(tok)
    assert len(honest) == 32 and tokenizer_hash(load_tokenizer()) == honest
    # The SmolLM2-135M-Instruct tokenizer's hash, as docs/PROTOCOL.md §5 quotes it.
    assert honest.hex() == SMOLLM2_TOKENIZER_HASH
    for name, other in tokenizer_variants.items():
        assert tokenizer_hash(other) != honest, name


def test_text_splitting_settings_change_ids_and_the_hash(tiny, tokenizer_variants):
    """The attack the pipeline's coverage stops: a tokenizer with the task's vocabulary, merges,
    special tokens and chat template, but another pre-tokenizer or normalizer, turns the same prompt
    into other ids. Only the hash's pipeline section tells it apart from the honest one."""
    from verifier.tokenizer import tokenizer_hash, tokenizer_identity

    _, tok = tiny
    text = "<|im_start|>user\nWhat is 12 + 34?<|im_end|>\n"
    for name in ("a changed pre-tokenizer", "a changed normalizer"):
        other = tokenizer_variants[name]
        assert other.encode(text) != tok.encode(text), name
        assert other.get_vocab() == tok.get_vocab() and other.chat_template == tok.chat_template, name
        mine, theirs = tokenizer_identity(tok), tokenizer_identity(other)
        assert [k for k in mine if mine[k] != theirs[k]] == ["pipeline"], name
        assert tokenizer_hash(other) != tokenizer_hash(tok), name
    # Changed in place on a copy that carries the honest hash in its cache: recomputed, not reused.
    stale = copy.deepcopy(tok)
    assert tokenizer_hash(stale) == tokenizer_hash(tok)
    stale.backend_tokenizer.pre_tokenizer = tokenizer_variants[
        "a changed pre-tokenizer"
    ].backend_tokenizer.pre_tokenizer
    assert tokenizer_hash(stale) == tokenizer_hash(tokenizer_variants["a changed pre-tokenizer"])


def test_tokenizer_hash_ignores_the_file_s_key_order(tiny, tmp_path):
    """tokenizer.json with every object's keys in reverse order loads to the same hash: the hash is of
    the loaded settings, canonically serialised, not of the file's bytes."""
    import json

    from transformers import AutoTokenizer

    from verifier.tokenizer import tokenizer_hash

    _, tok = tiny

    def reverse_keys(value):
        if isinstance(value, dict):
            return {k: reverse_keys(value[k]) for k in reversed(list(value))}
        if isinstance(value, list):
            return [reverse_keys(v) for v in value]
        return value

    tok.save_pretrained(tmp_path / "saved")
    path = tmp_path / "saved" / "tokenizer.json"
    original = json.loads(path.read_text())
    path.write_text(json.dumps(reverse_keys(original)))
    assert list(json.loads(path.read_text())) == list(reversed(list(original)))
    assert tokenizer_hash(AutoTokenizer.from_pretrained(tmp_path / "saved")) == tokenizer_hash(tok)


def test_tokenizer_other_than_the_task_s_is_named(tiny, tokenizer_variants):
    """A task naming its tokenizer: the honest tokenizer passes; a node whose tokenizer has one extra
    token, another chat template, pre-tokenizer, normalizer or BPE option is refused, and the reason
    names the tokenizer and both hashes."""
    from verifier.tokenizer import tokenizer_hash

    model, tok = tiny
    named = tokenizer_hash(tok)
    task = replace(make_task(), base_model_hash=model_hash(model), tokenizer_hash=named)
    assert identity(model, tok, task) is None
    vocab = len(tok) + 8  # room for the extra token: only the hash tells them apart
    for name, other in tokenizer_variants.items():
        mismatch = policy_mismatch(
            task, base_hash=model_hash(model), dtype=torch.float32, tokenizer=other, vocab_size=vocab
        )
        assert mismatch is not None and mismatch.what == "tokenizer", name
        assert "tokenizer differs from the task" in str(mismatch), name
        assert named.hex() in mismatch.detail and tokenizer_hash(other).hex() in mismatch.detail, name
    unnamed = replace(task, tokenizer_hash=None)  # without the hash the changed template fits
    assert (
        policy_mismatch(
            unnamed,
            base_hash=model_hash(model),
            dtype=torch.float32,
            tokenizer=tokenizer_variants["a changed chat template"],
            vocab_size=vocab,
        )
        is None
    )
