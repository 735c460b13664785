"""What the roles need of the verifier for one task: its audit parameters (read from the task, never
from node settings), the validator's policy checks, and the miner's self-audit (PROTOCOL.md §7).

`task_audit_params` is the one place the node turns a stored task into the verifier's AuditParams:
the TaskBoard's auditRollouts, auditPositions, logprobTolNano, edgeSlackNano and dtype, recorded
with the task's other parameters when it is read from chain; `task_tokenizer_hash` reads its
tokenizerHash (zero: the task names no tokenizer). A task that names no tokenizer is neither mined
nor audited (PROTOCOL.md §5): nothing would show that its prompts, rewards and EOS are the same on
every node, so a miner does not join it and a validator abstains, both saying so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from verifier.challenge import Challenge, get_challenge
from verifier.commitments import MerkleTree, leaf_hash
from verifier.params import AuditParams, AuditParamsError
from verifier.prf import H
from verifier.rollout import Rollout, TaskSpec
from verifier.verify import PolicyMismatch, Verdict, policy_mismatch, verify_rollouts

log = logging.getLogger("rollproof.audit")

SELF_AUDIT_ROLLOUTS = 4  # rollouts a miner re-checks before committing (every position of each)
UNNAMED_TOKENIZER = (
    "the task names no tokenizer (tokenizerHash = 0), so nothing shows that its prompts and rewards "
    "are this node's; the proposer must post the tokenizer's hash (PROTOCOL.md §5)"
)


def task_audit_params(params: dict[str, Any]) -> AuditParams:
    """The task's audit parameters from its stored parameters (the chain's TaskParams fields; a task
    recorded before they existed gets the protocol defaults)."""
    try:
        return AuditParams.from_mapping(params)
    except AuditParamsError as exc:
        raise ValueError(f"the task's audit parameters are invalid: {exc}") from None


def task_tokenizer_hash(params: dict[str, Any]) -> bytes | None:
    """The task's tokenizerHash from its stored (hex) or chain (bytes) parameters; None when the task
    names no tokenizer (zero, or recorded before the field existed)."""
    raw = params.get("tokenizer_hash")
    if raw is None:
        return None
    try:
        value = bytes.fromhex(raw.removeprefix("0x")) if isinstance(raw, str) else bytes(raw)
    except (TypeError, ValueError):
        raise ValueError(f"the task's tokenizer hash {raw!r} is not hex") from None
    if len(value) != 32:
        raise ValueError(f"the task's tokenizer hash has {len(value)} bytes, not 32")
    return None if value == bytes(32) else value


def audited_spec(ctx: Any, tv: Any, seed_randomness: bytes) -> TaskSpec:
    """The verifier's TaskSpec of a task: its parameters, audit parameters, base model and tokenizer
    hashes."""
    row = ctx.store.get_task(tv.task_id)
    params = dict(row.params)
    return replace(
        tv.spec(seed_randomness),
        audit=task_audit_params(params),
        base_model_hash=tv.params.base_model_hash,
        tokenizer_hash=task_tokenizer_hash(params),
    )


def join_tokenizer_problem(ctx: Any, task_id: int, tokenizer: Any) -> PolicyMismatch | None:
    """A miner's reason not to join: its tokenizer is not the one the task names (its prompts and
    rewards would differ from every validator's)."""
    from verifier.tokenizer import tokenizer_hash

    row = ctx.store.get_task(task_id)
    try:
        named = task_tokenizer_hash(dict(row.params)) if row is not None else None
    except ValueError as exc:
        return PolicyMismatch("tokenizer", str(exc))
    if named is None:
        return PolicyMismatch("tokenizer", UNNAMED_TOKENIZER)
    loaded = tokenizer_hash(tokenizer)
    if loaded == named:
        return None
    return PolicyMismatch(
        "tokenizer", f"the task names 0x{named.hex()}, the loaded tokenizer is 0x{loaded.hex()}"
    )


def audit_challenge(challenge_randomness: bytes, spec: TaskSpec, miner: str) -> Challenge:
    """The challenge of `miner` on this task: m and k from the task, so every validator draws the same."""
    return get_challenge(challenge_randomness, spec.task_id, miner, spec.total_rollouts, spec.audit)


def policy_problem(
    policy: Any,
    tokenizer: Any,
    spec: TaskSpec,
    base_hash: bytes,
    joined_adapter_hash: bytes | None = None,
) -> PolicyMismatch | None:
    """Whether `policy` may audit `spec` (dtype, base model, adapter the miner joined with, tokenizer;
    a task naming no tokenizer is a tokenizer mismatch)."""
    from verifier.models import adapter_hash

    loaded_adapter = adapter_hash(policy) if hasattr(policy, "peft_config") else None
    mismatch = policy_mismatch(
        spec,
        base_hash=base_hash,
        dtype=next(policy.parameters()).dtype,
        tokenizer=tokenizer,
        vocab_size=int(policy.get_output_embeddings().weight.shape[0]),
        adapter_hash=loaded_adapter,
        joined_adapter_hash=joined_adapter_hash,
    )
    if mismatch is None and spec.tokenizer_hash is None:
        return PolicyMismatch("tokenizer", UNNAMED_TOKENIZER)
    return mismatch


@dataclass(frozen=True)
class SelfAudit:
    verdict: Verdict
    indices: list[int]

    @property
    def passed(self) -> bool:
        return self.verdict.passed

    def reason(self) -> str:
        return "; ".join(f"rollout {f.index}: {f.check}: {f.detail}" for f in self.verdict.failures[:3])


def self_audit(
    policy: Any,
    tokenizer: Any,
    env: Any,
    spec: TaskSpec,
    miner: str,
    rollouts: list[Rollout],
    count: int = SELF_AUDIT_ROLLOUTS,
) -> SelfAudit:
    """Audit `count` of the miner's own rollouts exactly as a validator would (the task's tolerances,
    every position), before it commits: a misconfigured honest miner learns it before its stake is
    at risk. The sample is drawn from the rollouts' own Merkle root (the challenge is unknown yet)."""
    tree = MerkleTree.of_rollouts(rollouts)
    params = replace(spec.audit, rollouts=min(count, len(rollouts)), positions=0)
    sample_spec = replace(spec, audit=params)
    challenge = get_challenge(H("self-audit", tree.root), spec.task_id, miner, len(rollouts), params)
    by_index = {spec.rollout_index(r.p, r.g): r for r in rollouts}
    chosen = [by_index[i] for i in challenge.indices]
    verdict = verify_rollouts(
        policy,
        tokenizer,
        env,
        sample_spec,
        tree.root,
        chosen,
        [tree.proof(leaf_hash(r)) for r in chosen],
        challenge,
    )
    return SelfAudit(verdict, challenge.indices)
