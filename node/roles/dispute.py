"""Disputes for the roles (PROTOCOL.md §2.10).

A miner the votes contest (FAILED, or left UNDECIDED with a FAIL vote) re-audits exactly the evidence
its FAIL voters named (every named rollout at every position, with the validators' code and the task's
tolerances) and disputes only when that re-audit passes: a miner that really cheated would lose its
deposit (and an UNDECIDED one its lock). A validator drawn on a dispute's jury re-audits the same
evidence from the miner's openings and rules by commit-reveal; anyone resolves a dispute after its
reveal deadline so the task can be finalized.

A juror's ruling and salt are written to the node store before `commitRuling` is sent (as a verdict's
salt is), and each stage after it: a validator restarted between commit and reveal reveals what it
committed instead of forfeiting its bond.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field, replace
from typing import Any

from chain.clients import Evidence, Ruling
from chain.errors import ChainError
from verifier.challenge import AuditItem, Challenge
from verifier.commitments import leaf_hash
from verifier.params import ALL_POSITIONS
from verifier.prf import address_bytes
from verifier.rollout import Rollout, TaskSpec
from verifier.verify import Verdict, verify_rollouts

log = logging.getLogger("rollproof.dispute")

# finalize reverts with these while a dispute may still come or is not resolved: wait, never an error.
FINALIZE_WAITS = ("DisputeWindowOpen", "DisputeOpen")
MAX_NAMED_ROLLOUTS = 64  # a re-audit never opens more rollouts than this, whatever the votes named


def named_rollouts(evidence: list[Evidence], total: int) -> list[int]:
    """The distinct leaf indices the FAIL votes named, within the miner's commitment, ascending."""
    return sorted({e.rollout_index for e in evidence if 0 <= e.rollout_index < total})[:MAX_NAMED_ROLLOUTS]


def reaudit_challenge(spec: TaskSpec, miner: str, indices: list[int]) -> tuple[TaskSpec, Challenge]:
    """The task and challenge of a re-audit: the named rollouts at every position (so the named
    position and check are covered), with the task's tolerances."""
    audit = replace(spec.audit, rollouts=max(1, len(indices)), positions=ALL_POSITIONS)
    items = tuple(AuditItem(i, b"") for i in indices)
    owner = "0x" + address_bytes(miner).hex()  # the form get_challenge gives, which identity checks compare
    return replace(spec, audit=audit), Challenge(spec.task_id, owner, ALL_POSITIONS, items)


def reaudit(
    policy: Any,
    tokenizer: Any,
    env: Any,
    spec: TaskSpec,
    miner: str,
    root: bytes,
    evidence: list[Evidence],
    rollouts: list[Rollout | None],
    proofs: list[list[bytes] | None],
) -> Verdict:
    """Re-audit the named evidence: `rollouts`/`proofs` are aligned with named_rollouts(evidence)."""
    indices = named_rollouts(evidence, spec.total_rollouts)
    task, challenge = reaudit_challenge(spec, miner, indices)
    return verify_rollouts(policy, tokenizer, env, task, root, rollouts, proofs, challenge)


def resolve_open_disputes(ctx: Any, task_id: int) -> bool:
    """Resolve every open dispute of the task once its reveal deadline has passed (anyone may)."""
    disputes = ctx.chain.disputes
    if disputes.open_disputes(task_id) == 0:
        return False
    if ctx.chain.timestamp() <= disputes.windows(task_id).reveal_deadline:
        return False
    resolved = False
    for miner in ctx.chain.settlement.miners(task_id):
        if disputes.dispute_of(task_id, miner).ruling != Ruling.OPEN:
            continue
        try:
            disputes.resolve(task_id, miner)
            resolved = True
        except ChainError as exc:
            if disputes.dispute_of(task_id, miner).ruling == Ruling.OPEN:
                raise
            log.info(
                "task %d: the dispute of %s was resolved by someone else first (%s)", task_id, miner, exc
            )
    return resolved


# ---- the FAILED miner -------------------------------------------------------------------------------


def dispute_if_wrongly_failed(miner_role: Any, tv: Any) -> bool:
    """A miner's step after its verify deadline: when the votes contest it (FAILED, or UNDECIDED with a
    FAIL vote: `canDispute`), re-audit the named evidence on its own rollouts and dispute only if the
    re-audit passes. Once per task; True when it acted."""
    from chain.errors import ChainError
    from node.roles.audit import audited_spec
    from node.runtime.observe import event
    from node.tasks.beacons import task_randomness

    ctx = miner_role.ctx
    task_id = tv.task_id
    if task_id in miner_role.dispute_checked or ctx.chain.timestamp() <= tv.params.verify_deadline:
        return False
    disputes = ctx.chain.disputes
    if not disputes.can_dispute(task_id, ctx.address):
        if ctx.chain.timestamp() > disputes.windows(task_id).dispute_deadline:
            miner_role.dispute_checked.add(task_id)
        return False
    miner_role.dispute_checked.add(task_id)
    evidence = ctx.chain.settlement.fail_evidence(task_id, ctx.address, ctx.chain.deployment.deploy_block)
    seed = task_randomness(ctx, task_id, "seed")
    if seed is None:
        return False
    spec = audited_spec(ctx, tv, seed)
    if spec.tokenizer_hash is None:
        # Unreachable for a task posted since issue 14 (postTask refuses it); the miner never joins one.
        event(log, "the task names no tokenizer: not disputing", task=task_id)
        return True
    tree, rollouts = miner_role.tree(task_id)
    indices = named_rollouts(evidence, spec.total_rollouts)
    by_index = {spec.rollout_index(r.p, r.g): r for r in rollouts}
    chosen: list[Rollout | None] = [by_index.get(i) for i in indices]
    proofs: list[list[bytes] | None] = [tree.proof(leaf_hash(r)) if r is not None else None for r in chosen]
    joined = ctx.chain.settlement.miner_state(task_id, ctx.address).adapter_hash
    with miner_role.lock:
        miner_role._activate(joined)  # the policy it generated with, as its validators audit it
        verdict = reaudit(
            miner_role.policy,
            miner_role.tokenizer,
            miner_role.env(tv.env_name or ""),
            spec,
            ctx.address,
            tree.root,
            evidence,
            chosen,
            proofs,
        )
    named = [(e.rollout_index, e.position, e.check.name) for e in evidence]
    if not indices or not verdict.passed:
        event(
            log, "the named FAIL evidence fails our own re-audit: not disputing", task=task_id, evidence=named
        )
        return True
    try:
        disputes.dispute(task_id)
    except ChainError as exc:
        event(log, "cannot dispute the FAIL although our re-audit passes", task=task_id, reason=str(exc))
        return True
    event(log, "disputed the FAIL: our re-audit of the named evidence passes", task=task_id, evidence=named)
    return True


# ---- the jury ----------------------------------------------------------------------------------------


@dataclass
class JuryCase:
    task_id: int
    miner: str
    overturn: bool | None = None  # the re-audit's ruling, once made
    score: int = 0
    salt: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    stage: str = "drawn"  # drawn -> committed -> revealed -> done (stored from committed on)
    sent: bool = False  # commitRuling confirmed by this process (a stored case may have crashed before it)


def stored_case(row: Any) -> JuryCase:
    """A jury case from its stored ruling (node/store/jury.py)."""
    return JuryCase(
        task_id=int(row.task_id),
        miner=str(row.miner),
        overturn=bool(row.overturn),
        score=int(row.score),
        salt=bytes.fromhex(row.salt[2:]),
        stage=str(row.stage),
    )


class Jury:
    """A validator's jury duty: follows `Disputed` events, re-audits where it holds jury seats. Rulings
    committed before a restart are read back from the store, with their salts."""

    def __init__(self, validator_role: Any) -> None:
        self.role = validator_role
        self.ctx = validator_role.ctx
        self.store = self.ctx.store
        self.cases: dict[tuple[int, str], JuryCase] = {}
        for row in self.store.jury_rulings():
            case = stored_case(row)
            self.cases[(case.task_id, case.miner)] = case
        self.next_block = self.ctx.chain.deployment.deploy_block

    def discover(self) -> None:
        disputes = self.ctx.chain.disputes
        head = self.ctx.chain.block_number()
        if head < self.next_block:
            return
        logs = disputes.contract.events.Disputed.get_logs(from_block=self.next_block, to_block=head)
        self.next_block = head + 1
        for entry in logs:
            key = (int(entry["args"]["taskId"]), str(entry["args"]["miner"]))
            self.cases.setdefault(key, JuryCase(*key))

    def step(self) -> bool:
        self.discover()
        busy = False
        for case in list(self.cases.values()):
            if case.stage == "done":
                continue
            try:
                busy = self.advance(case) or busy
            except ChainError as exc:
                log.warning("task %d: jury duty on %s failed: %s", case.task_id, case.miner, exc)
        return busy

    def advance(self, case: JuryCase) -> bool:
        from node.runtime.observe import event
        from node.tasks.beacons import record_beacon_on_chain

        disputes = self.ctx.chain.disputes
        w = disputes.windows(case.task_id)
        now = self.ctx.chain.timestamp()
        me = self.ctx.address
        if case.stage == "drawn":
            if now <= w.dispute_deadline or not record_beacon_on_chain(self.ctx, w.round):
                return False
            seats = disputes.juror_seats(case.task_id, case.miner, me)
            if seats == 0 or now > w.commit_deadline:
                case.stage = "done"
                return False
            overturn, score = self.reaudit(case)
            # Stored before it is sent, never replaced: the reveal must match whatever reached the chain.
            row = self.store.save_jury_ruling(case.task_id, case.miner, overturn, score, case.salt)
            stored = stored_case(row)
            case.overturn, case.score, case.salt = stored.overturn, stored.score, stored.salt
            disputes.commit_ruling(case.task_id, case.miner, case.overturn, case.score, case.salt)
            case.stage, case.sent = "committed", True
            event(log, "jury ruling committed", task=case.task_id, miner=case.miner, seats=seats)
            return True
        if case.stage == "committed":
            if now <= w.commit_deadline:
                if case.sent:
                    return False
                # Read back after a restart: the commitment may not have reached the chain (idempotent).
                assert case.overturn is not None
                disputes.commit_ruling(case.task_id, case.miner, case.overturn, case.score, case.salt)
                case.sent = True
                return False
            assert case.overturn is not None
            disputes.reveal_ruling(case.task_id, case.miner, case.overturn, case.score, case.salt)
            case.stage = "revealed"
            self.store.set_jury_stage(case.task_id, case.miner, case.stage)
            event(log, "jury ruling revealed", task=case.task_id, miner=case.miner, overturn=case.overturn)
            return True
        if case.stage == "revealed":
            if now <= w.reveal_deadline:
                return False
            resolve_open_disputes(self.ctx, case.task_id)
            disputes.settle_juror(case.task_id, case.miner)
            juror = disputes.juror_of(case.task_id, case.miner, me)
            case.stage = "done"
            self.store.set_jury_stage(case.task_id, case.miner, case.stage)
            event(log, "jury duty settled", task=case.task_id, miner=case.miner, penalized=juror.penalized)
            return True
        return False

    def reaudit(self, case: JuryCase) -> tuple[bool, int]:
        """Re-audit the named evidence from the miner's openings: (overturn, score). A miner that does
        not serve the openings of its own dispute loses it (the burden is the disputer's)."""
        from node.roles.audit import audited_spec, policy_problem
        from node.tasks.beacons import task_randomness
        from node.tasks.view import task_view

        role, ctx = self.role, self.ctx
        tv = task_view(ctx, case.task_id)
        seed = task_randomness(ctx, case.task_id, "seed")
        state = ctx.chain.settlement.miner_state(case.task_id, case.miner)
        evidence = ctx.chain.settlement.fail_evidence(
            case.task_id, case.miner, ctx.chain.deployment.deploy_block
        )
        if seed is None:
            return False, 0
        spec = audited_spec(ctx, tv, seed)
        indices = named_rollouts(evidence, spec.total_rollouts)
        if not indices:
            return False, 0
        rollouts, proofs = role.openings(case.task_id, case.miner, state.root, tv, indices)
        policy = role.policy_for(case.miner, state.adapter_hash)
        if policy is None or any(r is None for r in rollouts):
            return False, 0
        # The validator's own checks before any audit (dtype, base model, tokenizer named and equal to the
        # task's; policy_for loaded the joined adapter by its hash): a juror that cannot re-audit this task
        # faithfully upholds the FAIL, as when the openings are missing.
        mismatch = policy_problem(policy, role.tokenizer, spec, role.base_hash)
        if mismatch is not None:
            log.warning("task %d: cannot re-audit %s's dispute: %s", case.task_id, case.miner, mismatch)
            return False, 0
        verdict = reaudit(
            policy,
            role.tokenizer,
            role.env(tv.env_name or ""),
            spec,
            case.miner,
            state.root,
            evidence,
            rollouts,
            proofs,
        )
        role.policies.clear()
        return verdict.passed, int(verdict.score) if verdict.passed else 0
