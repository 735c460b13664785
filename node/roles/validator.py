"""The validator role: wait for the challenge beacon, record it on chain, fetch the audited rollouts
with their Merkle proofs, verify them with the committed model and adapter, commit and reveal the
verdicts, finalize.

State machine (ValidatorState): SEEN -challenge beacon-> CHALLENGED -audit every committed miner->
AUDITED (audits + verdicts + salt stored in one transaction) -commitVerdict-> VERDICT_COMMITTED
-revealVerdict-> REVEALED -finalize-> FINALIZED. The salt is stored before the commitment is sent
and never replaced, so a restarted validator reveals exactly what it committed.

Rollouts come from gossip when the validator holds all P*G of a miner and they hash to the
committed root (proofs are then computed locally); otherwise the sampled openings are requested
from the miner's peer (bound to its address on chain). A miner that serves nothing fails.
"""

from __future__ import annotations

import copy
import logging
import secrets
import time
from typing import Any

from chain.clients import Role as ChainRole
from chain.clients import Verdict as ChainVerdict
from chain.clients import verdict_hash
from chain.errors import ChainError
from node.roles.common import (
    DEADLINE_MARGIN,
    FINALIZE_DELAY,
    NodeContext,
    TaskView,
    chain_now,
    crash_point,
    decode_rollout,
    encode_rollout,
    event,
    fetch_adapter_blob,
    from_wire,
    leave_task,
    load_model_spec,
    peer_id_of,
    record_beacon_on_chain,
    run_staked_role,
    step_tasks,
    sync_tasks,
    task_randomness,
    task_view,
)
from node.store import Role, ValidatorState
from verifier.challenge import get_challenge
from verifier.commitments import MerkleTree, leaf_hash
from verifier.rollout import Rollout

log = logging.getLogger("rollproof.validator")
ACTIVE = (
    ValidatorState.SEEN,
    ValidatorState.CHALLENGED,
    ValidatorState.AUDITED,
    ValidatorState.VERDICT_COMMITTED,
    ValidatorState.REVEALED,
)


class Validator:
    def __init__(self, ctx: NodeContext) -> None:
        from verifier.models import model_hash

        self.ctx = ctx
        self.model, self.tokenizer = load_model_spec(ctx.settings.model)
        self.base_hash = model_hash(self.model)
        self.adapter_dir = ctx.settings.data_dir / "adapters"
        self.adapter_dir.mkdir(parents=True, exist_ok=True)
        self.policies: dict[bytes, Any] = {}
        self.subscribed: set[int] = set()
        self.envs: dict[str, Any] = {}

    def env(self, name: str) -> Any:
        from node.roles.common import get_env

        if name not in self.envs:
            self.envs[name] = get_env(name)
        return self.envs[name]

    # ---- gossip ------------------------------------------------------------------------------

    def subscribe(self, task_id: int) -> None:
        from node.p2p import rollouts_topic

        if task_id in self.subscribed or self.ctx.p2p is None:
            return
        self.subscribed.add(task_id)
        self.ctx.p2p.subscribe(rollouts_topic(task_id), self.on_rollout)

    def on_rollout(self, received: Any) -> None:
        msg = received.payload
        self.ctx.store.add_received_rollout(
            msg.task_id,
            msg.miner,
            msg.p,
            msg.g,
            encode_rollout(msg),
            leaf=leaf_hash(from_wire(msg)),
            sender_peer=received.origin or None,
        )

    # ---- the loop ----------------------------------------------------------------------------

    def step(self) -> bool:
        busy = sync_tasks(self.ctx) > 0
        return (
            step_tasks(self.ctx, self.ctx.store.tasks_in_state(Role.VALIDATOR, ACTIVE), self.advance) or busy
        )

    def advance(self, task_id: int) -> bool:
        before = self.ctx.store.task_state(task_id, Role.VALIDATOR)
        busy = self._advance(task_id)
        after = self.ctx.store.task_state(task_id, Role.VALIDATOR)
        if after != before:
            crash_point(self.ctx, after)
        return busy

    def _advance(self, task_id: int) -> bool:
        store = self.ctx.store
        state = store.task_state(task_id, Role.VALIDATOR)
        tv = task_view(self.ctx, task_id)
        now = time.time()
        self.subscribe(task_id)
        if state == ValidatorState.SEEN:
            if chain_now(self.ctx) <= tv.commit_deadline:
                return False
            if now > tv.verdict_deadline - DEADLINE_MARGIN:
                store.transition(task_id, Role.VALIDATOR, ValidatorState.SKIPPED, note="too late to audit")
                return True
            if (
                task_randomness(self.ctx, task_id, "seed") is None
                or task_randomness(self.ctx, task_id, "challenge") is None
            ):
                return False
            record_beacon_on_chain(self.ctx, tv.challenge_round)
            store.transition(task_id, Role.VALIDATOR, ValidatorState.CHALLENGED)
            event(log, "challenge beacon verified and recorded", task=task_id, round=tv.challenge_round)
            return True
        if state == ValidatorState.CHALLENGED:
            if now > tv.verdict_deadline - DEADLINE_MARGIN:
                store.transition(
                    task_id, Role.VALIDATOR, ValidatorState.SKIPPED, note="audit not finished in time"
                )
                return True
            return self.audit(tv)
        if state == ValidatorState.AUDITED:
            return self.commit_verdict(tv, now)
        if state == ValidatorState.VERDICT_COMMITTED:
            return self.reveal(tv, now)
        if state == ValidatorState.REVEALED:
            return self.finalize(tv, now)
        return False

    # ---- audit -------------------------------------------------------------------------------

    def committed_miners(self, task_id: int) -> list[tuple[str, Any]]:
        settlement = self.ctx.chain.settlement
        out = []
        for miner in settlement.miners(task_id):
            state = settlement.miner_state(task_id, miner)
            if state.committed and miner != self.ctx.address:
                out.append((miner, state))
        return out

    def audit(self, tv: TaskView) -> bool:
        from verifier.verify import verify_rollouts

        task_id = tv.task_id
        miners = self.committed_miners(task_id)
        if not miners:
            self.ctx.store.transition(
                task_id, Role.VALIDATOR, ValidatorState.SKIPPED, note="no committed miner"
            )
            return True
        seed = task_randomness(self.ctx, task_id, "seed")
        chal = task_randomness(self.ctx, task_id, "challenge")
        assert seed is not None and chal is not None
        spec = tv.spec(seed)
        env = self.env(tv.env_name or "")
        total = spec.total_rollouts
        verdicts: list[dict[str, Any]] = []
        audits: list[tuple[str, Any, Any]] = []
        started = time.monotonic()
        for miner, state in miners:
            challenge = get_challenge(
                chal, task_id, miner, total, self.ctx.settings.audit_count, self.ctx.settings.positions
            )
            rollouts, proofs = self.openings(task_id, miner, state.root, tv, challenge.indices)
            policy = self.policy_for(miner, state.adapter_hash)
            if policy is None:
                # The miner does not serve the adapter it joined with: nothing can be verified.
                rollouts = [None] * len(challenge.indices)
                policy = self.model
            result = verify_rollouts(
                self.model if policy is None else policy,
                self.tokenizer,
                env,
                spec,
                state.root,
                rollouts,
                proofs,
                challenge,
            )
            verdicts.append(
                {"miner": miner, "pass": result.passed, "score": result.score, "audited": result.audited}
            )
            audits.append((miner, challenge, result))
            event(
                log,
                "audited miner",
                task=task_id,
                miner=miner,
                passed=result.passed,
                score=result.score,
                failures=sorted(result.failed_checks()),
            )
        salt = secrets.token_bytes(32)
        chain_verdicts = [
            ChainVerdict.from_pass(v["miner"], v["pass"], v["score"], v["audited"]) for v in verdicts
        ]
        digest = verdict_hash(task_id, self.ctx.address, chain_verdicts, salt)
        store = self.ctx.store
        with store.transaction() as s:
            for miner, challenge, result in audits:
                failed = {f.index: f for f in result.failures}
                for item in challenge.items:
                    p, g = spec.problem_and_rollout(item.index)
                    failure = failed.get(item.index)
                    store.record_audit(
                        task_id,
                        miner,
                        p,
                        g,
                        passed=failure is None,
                        reason=None if failure is None else f"{failure.check}: {failure.detail}"[:1000],
                        session=s,
                    )
            store.save_verdict(task_id, verdicts, salt, digest, session=s)
            store.transition(task_id, Role.VALIDATOR, ValidatorState.AUDITED, session=s)
        self.policies.clear()
        event(
            log,
            "verdicts ready",
            task=task_id,
            miners=len(verdicts),
            seconds=round(time.monotonic() - started, 2),
        )
        return True

    def openings(
        self, task_id: int, miner: str, root: bytes, tv: TaskView, indices: list[int]
    ) -> tuple[list[Rollout | None], list[list[bytes] | None]]:
        """The challenged rollouts and proofs: from gossip when complete and under the root, else from the miner."""
        g_count = tv.rollouts_per_problem
        rows = [r for r in self.ctx.store.received_rollouts(task_id) if r.miner == miner]
        total = tv.num_problems * g_count
        if len(rows) == total and self.ctx.settings.use_gossip:
            by_index = {}
            for row in rows:
                r = from_wire(decode_rollout(row.payload))
                by_index[r.p * g_count + r.g] = r
            if len(by_index) == total:
                ordered = [by_index[i] for i in range(total)]
                tree = MerkleTree.of([leaf_hash(r) for r in ordered])
                if tree.root == root:
                    chosen = [ordered[i] for i in indices]
                    return chosen, [tree.proof(leaf_hash(r)) for r in chosen]
        rollouts: list[Rollout | None] = [None] * len(indices)
        proofs: list[list[bytes] | None] = [None] * len(indices)
        peer = peer_id_of(self.ctx, miner)
        if peer is None or self.ctx.p2p is None:
            return rollouts, proofs
        try:
            served = self.ctx.p2p.fetch_openings(peer, task_id, miner, [divmod(i, g_count) for i in indices])
        except Exception as exc:  # noqa: BLE001 - RequestError: the miner failed to serve
            log.warning("task %d: %s did not serve openings: %s", task_id, miner, exc)
            return rollouts, proofs
        for slot, (msg, proof) in enumerate(served[: len(indices)]):
            rollouts[slot] = from_wire(msg)
            proofs[slot] = proof
        event(log, "fetched openings", task=task_id, miner=miner, served=len(served), asked=len(indices))
        return rollouts, proofs

    def policy_for(self, miner: str, adapter_hash: bytes) -> Any:
        """Base model + the adapter the miner joined with (fetched by hash from the miner's peer)."""
        from verifier.models import load_adapter

        if adapter_hash in self.policies:
            return self.policies[adapter_hash]
        directory = self.adapter_dir / ("0x" + adapter_hash.hex())
        if not directory.exists():
            peer = peer_id_of(self.ctx, miner)
            if peer is None or self.ctx.p2p is None:
                return None
            try:
                fetch_adapter_blob(self.ctx.p2p, peer, adapter_hash, self.adapter_dir)
            except Exception as exc:  # noqa: BLE001 - RequestError / ModelError: the miner failed to serve
                log.warning("adapter 0x%s of %s could not be fetched: %s", adapter_hash.hex(), miner, exc)
                return None
        policy = load_adapter(copy.deepcopy(self.model), directory, expected_hash=adapter_hash)
        policy.eval()
        self.policies[adapter_hash] = policy
        return policy

    # ---- commit, reveal, finalize ----------------------------------------------------------------

    def stored_verdicts(self, task_id: int) -> tuple[list[ChainVerdict], bytes]:
        row = self.ctx.store.verdict(task_id)
        assert row is not None
        verdicts = [
            ChainVerdict.from_pass(v["miner"], v["pass"], v["score"], v["audited"]) for v in row.verdicts
        ]
        return verdicts, bytes.fromhex(row.salt[2:])

    def commit_verdict(self, tv: TaskView, now: float) -> bool:
        store = self.ctx.store
        if now > tv.verdict_deadline - DEADLINE_MARGIN:
            store.transition(tv.task_id, Role.VALIDATOR, ValidatorState.SKIPPED, note="verdict window closed")
            return True
        verdicts, salt = self.stored_verdicts(tv.task_id)
        receipt = self.ctx.chain.settlement.commit_verdict(tv.task_id, verdicts, salt)
        if receipt is not None:
            store.set_verdict_tx(tv.task_id, commit_tx=receipt.tx_hash)
        store.transition(tv.task_id, Role.VALIDATOR, ValidatorState.VERDICT_COMMITTED)
        event(log, "verdict committed", task=tv.task_id)
        return True

    def reveal(self, tv: TaskView, now: float) -> bool:
        store = self.ctx.store
        if chain_now(self.ctx) <= tv.verdict_deadline:
            return False
        if now > tv.verify_deadline - DEADLINE_MARGIN:
            store.transition(tv.task_id, Role.VALIDATOR, ValidatorState.FAILED, note="reveal window closed")
            return True
        verdicts, salt = self.stored_verdicts(tv.task_id)
        receipt = self.ctx.chain.settlement.reveal_verdict(tv.task_id, verdicts, salt)
        if receipt is not None:
            store.set_verdict_tx(tv.task_id, reveal_tx=receipt.tx_hash)
        store.transition(tv.task_id, Role.VALIDATOR, ValidatorState.REVEALED)
        event(log, "verdict revealed", task=tv.task_id, miners=len(verdicts))
        return True

    def finalize(self, tv: TaskView, now: float) -> bool:
        if chain_now(self.ctx) <= tv.verify_deadline + FINALIZE_DELAY["validator"]:
            return False
        settlement = self.ctx.chain.settlement
        if not settlement.task_settlement(tv.task_id).finalized:
            if not record_beacon_on_chain(self.ctx, tv.challenge_round):
                return False
            try:
                settlement.finalize(tv.task_id)
            except ChainError as exc:
                if not settlement.task_settlement(tv.task_id).finalized:
                    raise
                log.info("task %d was finalized by someone else first (%s)", tv.task_id, exc)
        if settlement.validator_state(tv.task_id, self.ctx.address).commit_hash != bytes(32):
            # Releases (or forfeits) the bond and credits the fee and jackpots.
            settlement.settle_validator(tv.task_id)
        vs = settlement.validator_state(tv.task_id, self.ctx.address)
        self.ctx.store.record_outcome(
            tv.task_id, self.ctx.address, Role.VALIDATOR, "AGREED" if vs.agreed else "DISAGREED", paid=vs.paid
        )
        if settlement.claimable(self.ctx.address) > 0:
            settlement.send("claim", description=f"claim after task {tv.task_id}")
        self.ctx.store.transition(tv.task_id, Role.VALIDATOR, ValidatorState.FINALIZED)
        leave_task(self.ctx, tv.task_id)
        event(log, "task finalized", task=tv.task_id, agreed=vs.agreed, paid=vs.paid)
        return True

    def done(self) -> bool:
        limit = self.ctx.settings.max_tasks
        if not limit:
            return False
        finished = self.ctx.store.tasks_in_state(
            Role.VALIDATOR, (ValidatorState.FINALIZED, ValidatorState.SKIPPED, ValidatorState.FAILED)
        )
        return len(finished) >= limit and not self.ctx.store.tasks_in_state(Role.VALIDATOR, ACTIVE)


def run(config: Any) -> int:
    """`rollproof validator`: audit and settle tasks until stopped (or max_tasks)."""
    return run_staked_role(
        config,
        "validator",
        Role.VALIDATOR,
        ChainRole.VALIDATOR,
        Validator,
        ready_fields=lambda s: {"model": s.model},
    )
