"""The node's side of issue 14: audit parameters read from the stored task only, the miner's
self-audit with the validators' code, and the pinned float32 precision (node/roles/audit.py,
node/model.py)."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
import torch
from verifier_helpers import MINER, make_task

from bench.cheaters import perturbed_copy
from node.model import PrecisionError, check_precision, load_pinned_model, pin_precision
from node.roles.audit import audit_challenge, self_audit, task_audit_params, task_tokenizer_hash
from verifier.models import tiny_model
from verifier.params import AuditParams
from verifier.sampler import prove_rollouts

CHAL = b"\x31" * 32


def test_audit_params_come_from_the_stored_task():
    stored = {
        "num_problems": 4,
        "audit_rollouts": 7,
        "audit_positions": 0,
        "logprob_tol_nano": 150_000,
        "edge_slack_nano": 20_000,
        "dtype": 0,
    }
    params = task_audit_params(stored)
    assert params == AuditParams(rollouts=7, positions=0, logprob_tol_nano=150_000, edge_slack_nano=20_000)
    assert task_audit_params({"num_problems": 4}) == AuditParams()  # recorded before the fields existed
    with pytest.raises(ValueError, match="audit parameters are invalid"):
        task_audit_params({"audit_rollouts": 0})


def test_two_validators_of_one_task_draw_the_same_sample():
    """m is the task's: validators whatever their settings draw the same challenge; another task's m
    draws another sample size."""
    spec = replace(make_task(P=8, G=8), audit=task_audit_params({"audit_rollouts": 6}))
    a, b = audit_challenge(CHAL, spec, MINER), audit_challenge(CHAL, replace(spec), MINER)
    assert a == b and len(a.indices) == 6 and a.k == 0
    assert len(audit_challenge(CHAL, replace(spec, audit=AuditParams(rollouts=2)), MINER).indices) == 2


def test_self_audit_passes_honest_rollouts_and_names_what_fails(tiny, env):
    model, tok = tiny
    task = make_task(task_id=1401, max_tokens=12, P=2, G=4)
    honest = prove_rollouts(model, tok, env, task, MINER, batch_size=8)
    result = self_audit(model, tok, env, task, MINER, honest)
    assert result.passed and len(result.indices) == 4
    # A miner whose generation differs from its committed policy (here: perturbed weights, like a
    # TF32 or autocast generation) learns it before committing.
    drifted = prove_rollouts(perturbed_copy(model, 1e-3), tok, env, task, MINER, batch_size=8)
    result = self_audit(model, tok, env, task, MINER, drifted)
    assert not result.passed and "logprob" in result.reason()


@pytest.fixture
def restore_precision():
    before = torch.get_float32_matmul_precision()
    yield
    torch.set_float32_matmul_precision(before)
    torch.backends.cuda.matmul.allow_tf32 = False


def test_precision_is_pinned_and_changes_are_refused(restore_precision, monkeypatch):
    pin_precision()
    assert torch.get_float32_matmul_precision() == "highest"
    check_precision()
    torch.set_float32_matmul_precision("high")  # what some frameworks switch on (TF32)
    with pytest.raises(PrecisionError, match='"high".*"highest"'):
        check_precision()
    pin_precision()
    torch.backends.cuda.matmul.allow_tf32 = True
    with pytest.raises(PrecisionError, match="TF32"):  # allow_tf32 = True lowers the precision to "high"
        check_precision()
    pin_precision()
    with torch.autocast("cpu", dtype=torch.bfloat16), pytest.raises(PrecisionError, match="autocast"):
        check_precision()
    monkeypatch.setenv("TORCH_ALLOW_TF32_CUBLAS_OVERRIDE", "1")
    with pytest.raises(PrecisionError, match="Refusing to start.*TORCH_ALLOW_TF32_CUBLAS_OVERRIDE"):
        pin_precision()


def test_a_model_loaded_in_another_dtype_is_refused(restore_precision, tiny):
    model, tok = tiny
    half = (copy.deepcopy(model).to(torch.bfloat16), tok)
    with pytest.raises(PrecisionError, match="bfloat16"):
        load_pinned_model("tiny", lambda spec: half)
    assert load_pinned_model("tiny", lambda spec: tiny)[0] is model


def test_the_chain_task_s_audit_fields_reach_the_verifier():
    """TaskBoard.TaskParams -> the stored task -> AuditParams: the values posted on chain, not defaults."""
    from chain.clients import Dtype, Task, TaskParams, TaskStatus
    from node.tasks.view import task_params_dict

    params = TaskParams(
        env_id=b"\x01" * 32,
        difficulty=1,
        num_problems=4,
        rollouts_per_problem=4,
        max_tokens=64,
        temperature_milli=700,
        base_model_hash=b"\x02" * 32,
        reward=10**18,
        join_deadline=1,
        commit_deadline=2,
        verdict_deadline=3,
        verify_deadline=4,
        audit_rollouts=9,
        audit_positions=0,
        logprob_tol_nano=120_000,
        edge_slack_nano=7_000,
        dtype=Dtype.FP32,
        tokenizer_hash=b"\x03" * 32,
    )
    task = Task(5, params, "0x" + "aa" * 20, 0, 1, 2, list(TaskStatus)[0])
    stored = task_params_dict(task)
    assert task_audit_params(stored) == AuditParams(
        rollouts=9, positions=0, logprob_tol_nano=120_000, edge_slack_nano=7_000, dtype=0
    )
    assert task_tokenizer_hash(stored) == b"\x03" * 32
    unnamed = task_params_dict(replace(task, params=replace(params, tokenizer_hash=bytes(32))))
    assert task_tokenizer_hash(unnamed) is None  # zero: the task names no tokenizer
    bf16 = task_audit_params(task_params_dict(replace(task, params=replace(params, dtype=Dtype.BF16))))
    assert bf16.dtype_name == "bf16"


def stored_task(store, task_id: int, base_hash: bytes, **audit) -> None:
    from node.store import Role

    params = {
        "env_id": "0x" + "01" * 32,
        "difficulty": 1,
        "num_problems": 4,
        "rollouts_per_problem": 4,
        "max_tokens": 16,
        "temperature_milli": 700,
        "base_model_hash": "0x" + base_hash.hex(),
        "reward": "1",
        "join_deadline": 1,
        "commit_deadline": 2,
        "verdict_deadline": 3,
        "verify_deadline": 4,
        "posted_at": 0,
        **audit,
    }
    store.upsert_task(task_id, proposer="0x" + "aa" * 20, params=params, seed_round=1, challenge_round=2)
    store.track_task(task_id, Role.VALIDATOR)


def test_validator_abstains_and_says_what_differs(tmp_path, tiny):
    """The validator's pre-audit check with a real store: a task naming another base model or bf16 is
    not audited (SKIPPED, the note names what differs); a matching task gives the task's AuditParams."""
    from types import SimpleNamespace

    from node.roles.validator import Validator
    from node.store import Role, ValidatorState, open_store
    from node.tasks.view import task_view
    from verifier.models import model_hash
    from verifier.tokenizer import tokenizer_hash

    model, tok = tiny
    store = open_store(f"sqlite:///{tmp_path / 'node.db'}")
    validator = Validator.__new__(Validator)  # its model and store, without a chain or a network
    validator.ctx = SimpleNamespace(store=store)
    validator.model, validator.tokenizer, validator.base_hash = model, tok, model_hash(model)
    other = model_hash(tiny_model(seed=1)[0])
    stored_task(store, 1, other)
    stored_task(store, 2, validator.base_hash, dtype=1)
    named = "0x" + tokenizer_hash(tok).hex()
    stored_task(
        store, 3, validator.base_hash, audit_rollouts=7, logprob_tol_nano=120_000, tokenizer_hash=named
    )
    seed = b"\x05" * 32
    assert validator.audit_spec(task_view(validator.ctx, 1), seed) is None
    assert validator.audit_spec(task_view(validator.ctx, 2), seed) is None
    spec = validator.audit_spec(task_view(validator.ctx, 3), seed)
    assert (
        spec.audit == AuditParams(rollouts=7, logprob_tol_nano=120_000)
        and spec.base_model_hash == validator.base_hash
    )
    notes = {
        row.task_id: (row.state, row.note) for row in store.task_states() if row.role == Role.VALIDATOR.value
    }
    assert notes[1][0] == ValidatorState.SKIPPED.value and "base model differs" in notes[1][1]
    assert other.hex() in notes[1][1] and validator.base_hash.hex() in notes[1][1]
    assert (
        notes[2][0] == ValidatorState.SKIPPED.value
        and "dtype differs" in notes[2][1]
        and "bf16" in notes[2][1]
    )
    assert notes[3][0] == ValidatorState.SEEN.value


def test_validator_and_miner_refuse_a_tokenizer_other_than_the_task_s(tmp_path, tiny, tokenizer_variants):
    """A task naming its tokenizer (TaskParams.tokenizerHash): a validator or miner whose tokenizer has
    one extra added token, another chat template, pre-tokenizer, normalizer or BPE option is refused,
    the reason naming the tokenizer (the validator abstains, the miner does not join); the honest
    ones go on."""
    from node.store import MinerState, Role, ValidatorState
    from verifier.tokenizer import tokenizer_hash

    model, tok = tiny
    store, ctx = role_store(tmp_path)
    named = {"tokenizer_hash": "0x" + tokenizer_hash(tok).hex()}
    policies = {1: tok, **{i: other for i, other in enumerate(tokenizer_variants.values(), start=2)}}
    for task_id, policy in policies.items():
        spec, _ = validate_and_join(ctx, store, task_id, model, policy, named)
        assert (spec is not None) == (policy is tok)
        if spec is not None:
            assert spec.tokenizer_hash == tokenizer_hash(tok)
    states = {(row.task_id, row.role): (row.state, row.note or "") for row in store.task_states()}
    assert states[(1, Role.VALIDATOR.value)][0] == ValidatorState.SEEN.value
    assert states[(1, Role.MINER.value)] == (MinerState.SKIPPED.value, "too late to join")
    for task_id in policies.keys() - {1}:
        state, note = states[(task_id, Role.VALIDATOR.value)]
        assert state == ValidatorState.SKIPPED.value and "tokenizer differs from the task" in note
        state, note = states[(task_id, Role.MINER.value)]
        assert state == MinerState.SKIPPED.value and "tokenizer differs from the task" in note
        assert tokenizer_hash(tok).hex() in note


def test_a_task_naming_no_tokenizer_is_neither_audited_nor_joined(tmp_path, tiny):
    """tokenizerHash = 0 (or a task recorded without one) is a tokenizer mismatch on the node side:
    the validator abstains and the miner does not join, both saying the task names no tokenizer, even
    with the very tokenizer the proposer used; the same task naming the hash goes on."""
    from node.store import MinerState, Role, ValidatorState
    from verifier.tokenizer import tokenizer_hash

    model, tok = tiny
    store, ctx = role_store(tmp_path)
    cases = {
        1: {"tokenizer_hash": "0x" + "00" * 32},
        2: {},  # recorded before the field existed
        3: {"tokenizer_hash": "0x" + tokenizer_hash(tok).hex()},
    }
    for task_id, named in cases.items():
        spec, _ = validate_and_join(ctx, store, task_id, model, tok, named)
        assert (spec is None) == (task_id != 3)
    states = {(row.task_id, row.role): (row.state, row.note or "") for row in store.task_states()}
    for task_id in (1, 2):
        for role, skipped in ((Role.VALIDATOR, ValidatorState.SKIPPED), (Role.MINER, MinerState.SKIPPED)):
            state, note = states[(task_id, role.value)]
            assert state == skipped.value and "tokenizer differs from the task" in note, (task_id, role)
            assert "names no tokenizer (tokenizerHash = 0)" in note, (task_id, role)
    assert states[(3, Role.VALIDATOR.value)][0] == ValidatorState.SEEN.value
    assert states[(3, Role.MINER.value)] == (MinerState.SKIPPED.value, "too late to join")


def test_the_proposer_refuses_to_post_without_a_tokenizer_hash(tiny, monkeypatch):
    """The proposer posts its tokenizer's hash with every task and refuses to start, or to post, when
    that hash is zero (miners and validators would not take the task, PROTOCOL.md §5)."""
    from types import SimpleNamespace

    import verifier.tokenizer
    from node.roles import proposer as proposer_module
    from node.roles.proposer import Proposer, named_tokenizer_hash
    from node.runtime.errors import RoleError
    from verifier.tokenizer import tokenizer_hash

    honest = tokenizer_hash(tiny[1])
    assert named_tokenizer_hash(honest) == honest
    for bad in (bytes(32), b"", b"\x01" * 31):
        with pytest.raises(RoleError, match="Refusing to post a task without its tokenizer hash"):
            named_tokenizer_hash(bad)
    ctx = SimpleNamespace(settings=SimpleNamespace(env="basic_arithmetic", model="tiny"))
    monkeypatch.setattr(proposer_module, "load_model_spec", lambda spec: tiny)
    assert Proposer(ctx).tokenizer_hash == honest
    monkeypatch.setattr(verifier.tokenizer, "tokenizer_hash", lambda tokenizer: bytes(32))
    with pytest.raises(RoleError, match="tokenizerHash is zero"):
        Proposer(ctx)


def role_store(tmp_path):
    from types import SimpleNamespace

    from node.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'node.db'}")
    return store, SimpleNamespace(store=store, settings=SimpleNamespace(max_tasks=0))


def validate_and_join(ctx, store, task_id: int, model, tokenizer, named: dict):
    """Store task `task_id` (this model, `named`'s tokenizer hash), then let a validator and a miner
    with `tokenizer` look at it: (the validator's spec or None, the miner's join result)."""
    from chain.clients import env_id
    from node.roles.miner import Miner
    from node.roles.validator import Validator
    from node.store import Role
    from node.tasks.view import task_view
    from verifier.models import model_hash

    base = model_hash(model)
    stored_task(store, task_id, base, **named)
    store.upsert_task(task_id, env_id=env_id("basic_arithmetic"), env_name="basic_arithmetic")
    store.track_task(task_id, Role.MINER)
    validator = Validator.__new__(Validator)  # its model and store, without a chain or a network
    validator.ctx, validator.model, validator.tokenizer, validator.base_hash = ctx, model, tokenizer, base
    spec = validator.audit_spec(task_view(ctx, task_id), b"\x05" * 32)
    miner = Miner.__new__(Miner)
    miner.ctx, miner.tokenizer, miner.base_hash = ctx, tokenizer, base
    joined = miner.join(task_view(ctx, task_id), now=10**10)  # past the join deadline either way
    assert joined
    return spec, joined
