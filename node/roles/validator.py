"""The validator role: wait for the challenge beacon, record it on chain, fetch the audited rollouts
with their Merkle proofs, verify them with the committed model and adapter, commit and reveal the
verdicts, finalize.

State machine (ValidatorState): SEEN -challenge beacon-> CHALLENGED -audit every committed miner->
AUDITED (audits + verdicts + salt stored in one transaction) -commitVerdict-> VERDICT_COMMITTED
-revealVerdict-> REVEALED -finalize-> FINALIZED. The salt is stored before the commitment is sent
and never replaced, so a restarted validator reveals exactly what it committed.

Rollouts come from gossip when the validator holds all P*G of a miner and they hash to the
committed root (proofs are then computed locally); otherwise the sampled openings are requested
from the miner's peer (bound to its address on chain) and from every connected peer that may hold
them (validators and miners serve the gossip they received), several at once with a short timeout
each (node/roles/openings.py): an opening is taken from a third peer only when it is the challenged
rollout under the committed root, so a peer serving forged bytes is ignored.
The adapter likewise comes from any peer, checked against its hash on chain. While openings or
the adapter are missing the audit is retried (catch-up + any peer, with backoff) until shortly
before the verdict deadline; only then does a miner that served nothing get an UNAVAILABLE vote.

Over 400 lines for a reason: one role's state machine, a method per step above, sharing the
loaded model and store; what another role shares is already out (audit.py, dispute.py).
"""

from __future__ import annotations

import copy
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chain.clients import Check, Vote, verdict_hash
from chain.clients import Role as ChainRole
from chain.clients import Verdict as ChainVerdict
from chain.errors import ChainError, ChainRevert, format_rpt
from node.model import fetch_adapter_blob, load_model_spec
from node.roles.audit import audit_challenge, audited_spec, policy_problem
from node.roles.dispute import FINALIZE_WAITS, resolve_open_disputes
from node.roles.openings import Opened, openings_from_peers
from node.roles.startup import run_staked_role
from node.runtime.context import NodeContext
from node.runtime.errors import RoleError
from node.runtime.loop import advance_with_crash_point, max_tasks_done, step_tasks
from node.runtime.network import (
    catch_up_task,
    decode_rollout,
    from_wire,
    join_task_topics,
    keep_gossiped_rollout,
    leave_task,
    peer_id_of,
    received_openings,
    start_p2p,
)
from node.runtime.observe import event
from node.staking import free_stake
from node.store import Role, ValidatorState
from node.tasks.beacons import record_beacon_on_chain, task_randomness
from node.tasks.obligations import committee_seats, settlement_params
from node.tasks.view import DEADLINE_MARGIN, FINALIZE_DELAY, TaskView, chain_now, sync_tasks, task_view
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

# Retrying an audit whose openings or adapter are missing (PROTOCOL.md §2.7: an honest miner must not
# fail because of the network): first retry after AUDIT_RETRY_FIRST s, doubling up to AUDIT_RETRY_MAX;
# the last try is made VOTE_RESERVE s (plus the time the missing audits are expected to take) before
# the verdict deadline's margin, so the verdict is still committed in time.
AUDIT_RETRY_FIRST = 2.0
AUDIT_RETRY_MAX = 20.0
VOTE_RESERVE = 4.0
MAX_HOLDERS = 16  # peers asked for one miner's openings or adapter, the miner's own first


@dataclass
class AuditProgress:
    """One task's audit across retries: the miners already audited keep their result."""

    done: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # miner -> (challenge, verdict)
    next_try: float = 0.0  # time.monotonic() of the next attempt
    backoff: float = AUDIT_RETRY_FIRST
    attempts: int = 0
    miner_seconds: float = 0.0  # the slowest single-miner audit so far


def audit_prefill(settings: Any) -> Any:
    """How the audit batches its prefill: the validator's --batch-size rows per forward. The
    tolerances themselves are the task's (TaskSpec.audit), never a node setting."""
    from verifier.verify import Prefill

    return Prefill(batch=settings.batch_size)


class Validator:
    def __init__(self, ctx: NodeContext, clock: Callable[[], float] = time.time) -> None:
        """`clock`: the wall clock that closing windows (the verdict deadline, the last audit retry)
        are checked against; on a live chain it reads what block timestamps follow."""
        from node.model import PrecisionError, load_pinned_model
        from verifier.models import model_hash

        self.ctx = ctx
        self.clock = clock
        try:
            self.model, self.tokenizer = load_pinned_model(ctx.settings.model, load_model_spec)
        except PrecisionError as exc:
            raise RoleError(str(exc)) from None
        self.base_hash = model_hash(self.model)
        self.adapter_dir = ctx.settings.adapter_path
        self.adapter_dir.mkdir(parents=True, exist_ok=True)
        self.policies: dict[bytes, Any] = {}
        self.subscribed: set[int] = set()
        self.envs: dict[str, Any] = {}
        self.jury: Any = None  # node.roles.dispute.Jury, made at the first step (it reads the chain)
        self.progress: dict[int, AuditProgress] = {}

    def start_network(self) -> None:
        """The p2p host, serving what this validator holds to any peer: other miners' openings from
        the gossip it received, and the adapters it fetched (by hash)."""
        node = start_p2p(self.ctx)
        node.serve_openings(lambda task_id, miner, pairs: received_openings(self.ctx, task_id, miner, pairs))
        node.serve_adapters(self.adapter_blob)

    def adapter_blob(self, adapter_hash: bytes) -> Any:
        blob = self.adapter_dir / ("0x" + bytes(adapter_hash).hex() + ".bin")
        return blob if blob.is_file() else None

    def env(self, name: str) -> Any:
        from node.tasks.view import get_env

        if name not in self.envs:
            self.envs[name] = get_env(name)
        return self.envs[name]

    # ---- gossip ------------------------------------------------------------------------------

    def subscribe(self, task_id: int) -> None:
        join_task_topics(self.ctx, self.subscribed, task_id, self.on_rollout)

    def on_rollout(self, received: Any) -> None:
        keep_gossiped_rollout(self.ctx, received)

    # ---- the loop ----------------------------------------------------------------------------

    def step(self) -> bool:
        from node.roles.dispute import Jury

        busy = sync_tasks(self.ctx) > 0
        if self.jury is None:
            self.jury = Jury(self)
        busy = self.jury.step() or busy
        return (
            step_tasks(self.ctx, self.ctx.store.tasks_in_state(Role.VALIDATOR, ACTIVE), self.advance) or busy
        )

    def advance(self, task_id: int) -> bool:
        return advance_with_crash_point(self.ctx, Role.VALIDATOR, task_id, self._advance)

    def _advance(self, task_id: int) -> bool:
        store = self.ctx.store
        state = store.task_state(task_id, Role.VALIDATOR)
        tv = task_view(self.ctx, task_id)
        now = self.clock()
        self.subscribe(task_id)
        if state == ValidatorState.SEEN:
            if chain_now(self.ctx) <= tv.params.commit_deadline:
                return False
            if now > tv.params.verdict_deadline - DEADLINE_MARGIN:
                store.transition(task_id, Role.VALIDATOR, ValidatorState.SKIPPED, note="too late to audit")
                return True
            if (
                task_randomness(self.ctx, task_id, "seed") is None
                or task_randomness(self.ctx, task_id, "challenge") is None
            ):
                return False
            if not record_beacon_on_chain(self.ctx, tv.challenge_round):
                return False
            reason = self.not_seated(task_id)
            if reason is not None:
                store.transition(task_id, Role.VALIDATOR, ValidatorState.SKIPPED, note=reason)
                event(log, "not auditing", task=task_id, reason=reason)
                return True
            store.transition(task_id, Role.VALIDATOR, ValidatorState.CHALLENGED)
            event(log, "challenge beacon verified and recorded", task=task_id, round=tv.challenge_round)
            return True
        if state == ValidatorState.CHALLENGED:
            if now > tv.params.verdict_deadline - DEADLINE_MARGIN:
                self.progress.pop(task_id, None)
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
        if self.ctx.settings.misbehave:
            return self.misbehave(tv, [m for m, _ in miners], chal)
        spec = self.audit_spec(tv, seed)
        if spec is None:
            return True
        env = self.env(tv.env_name or "")
        progress = self.progress.setdefault(task_id, AuditProgress())
        if time.monotonic() < progress.next_try:
            return False
        started = time.monotonic()
        unavailable: list[str] = []
        for miner, state in miners:
            if miner in progress.done:
                continue
            miner_started = time.monotonic()
            challenge = audit_challenge(chal, spec, miner)
            rollouts, proofs = self.openings(task_id, miner, state.root, tv, challenge.indices)
            policy = self.policy_for(miner, state.adapter_hash)
            if policy is None:
                # The adapter it joined with is served by no peer: nothing can be verified.
                rollouts = [None] * len(challenge.indices)
                policy = self.model
            result = self.adapter_verdict(policy, spec, state.adapter_hash, challenge) or verify_rollouts(
                policy,
                self.tokenizer,
                env,
                spec,
                state.root,
                rollouts,
                proofs,
                challenge,
                prefill=audit_prefill(self.ctx.settings),
            )
            progress.miner_seconds = max(progress.miner_seconds, time.monotonic() - miner_started)
            if any(f.check == "missing" for f in result.failures) and self.may_retry(tv, progress):
                unavailable.append(miner)
                continue
            progress.done[miner] = (challenge, result)
            event(
                log,
                "audited miner",
                task=task_id,
                miner=miner,
                passed=result.passed,
                score=result.score,
                failures=sorted(result.failed_checks()),
            )
        if unavailable:
            self.schedule_retry(tv, progress, unavailable)
            return False
        verdicts = [verdict_record(m, progress.done[m][1]) for m, _ in miners]
        audits = [(m, *progress.done[m]) for m, _ in miners]
        salt = secrets.token_bytes(32)
        chain_verdicts = [chain_verdict(v) for v in verdicts]
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
        self.progress.pop(task_id, None)
        event(
            log,
            "verdicts ready",
            task=task_id,
            miners=len(verdicts),
            seconds=round(time.monotonic() - started, 2),
            attempts=progress.attempts + 1,
        )
        return True

    def last_try(self, tv: TaskView, progress: AuditProgress, missing: int = 1) -> float:
        """Wall-clock time of the last audit attempt: early enough to audit what then arrives for
        `missing` miners and still commit before the verdict deadline."""
        reserve = VOTE_RESERVE + progress.miner_seconds * max(1, missing)
        return tv.params.verdict_deadline - DEADLINE_MARGIN - reserve

    def may_retry(self, tv: TaskView, progress: AuditProgress) -> bool:
        return self.clock() < self.last_try(tv, progress)

    def schedule_retry(self, tv: TaskView, progress: AuditProgress, unavailable: list[str]) -> None:
        """Try the missing miners again after the backoff, and no later than the last try."""
        progress.attempts += 1
        wait = min(progress.backoff, max(0.0, self.last_try(tv, progress, len(unavailable)) - self.clock()))
        progress.next_try = time.monotonic() + wait
        progress.backoff = min(progress.backoff * 2, AUDIT_RETRY_MAX)
        event(
            log,
            "openings or adapter missing; retrying before the verdict deadline",
            task=tv.task_id,
            miners=unavailable,
            attempt=progress.attempts,
            retry_in=round(wait, 1),
        )

    # ---- audit checks: the task's audit parameters and the policy named by the task -------------

    def audit_spec(self, tv: TaskView, seed: bytes) -> Any:
        """The task as the verifier sees it (audit parameters from the task, never from settings), or
        None after abstaining (SKIPPED, with the reason) when this validator's model, dtype or
        tokenizer is not the one the task names: its own misconfiguration, never the miners' fault."""
        from node.model import PrecisionError, check_precision

        try:
            spec = audited_spec(self.ctx, tv, seed)
            check_precision()
        except (ValueError, PrecisionError) as exc:
            return self._abstain(tv.task_id, str(exc))
        mismatch = policy_problem(self.model, self.tokenizer, spec, self.base_hash)
        if mismatch is not None:
            return self._abstain(tv.task_id, str(mismatch))
        return spec

    def _abstain(self, task_id: int, reason: str) -> None:
        self.ctx.store.transition(
            task_id, Role.VALIDATOR, ValidatorState.SKIPPED, note=f"cannot audit: {reason}"[:1000]
        )
        event(log, "cannot audit the task", task=task_id, reason=reason)
        return None

    def adapter_verdict(self, policy: Any, spec: Any, joined: bytes, challenge: Any) -> Any:
        """A failing Verdict naming the difference when the policy is not base + the adapter the miner
        joined with (the miner's fault), else None."""
        from verifier.verify import Failure, Verdict

        if policy is self.model:
            return None
        mismatch = policy_problem(policy, self.tokenizer, spec, self.base_hash, joined)
        if mismatch is None:
            return None
        failures = [Failure(i, "policy", str(mismatch)) for i in challenge.indices]
        return Verdict(passed=False, score=0, audited=len(challenge.indices), failures=failures)

    def openings(
        self, task_id: int, miner: str, root: bytes, tv: TaskView, indices: list[int]
    ) -> tuple[list[Rollout | None], list[list[bytes] | None]]:
        """The challenged rollouts and proofs: from gossip when complete and under the root, else from the miner."""
        g_count = tv.params.rollouts_per_problem
        total = tv.params.num_problems * g_count
        rows = self.gossiped_rollouts(task_id, miner, total)
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
        if self.ctx.p2p is None:
            return [None] * len(indices), [None] * len(indices)
        miner_peer = peer_id_of(self.ctx, miner)
        rollouts, proofs = openings_from_peers(
            self.ctx.p2p,
            self.holders(miner_peer),
            miner_peer,
            Opened(task_id, miner, root, g_count),
            indices,
        )
        served = sum(r is not None for r in rollouts)
        event(log, "fetched openings", task=task_id, miner=miner, served=served, asked=len(indices))
        return rollouts, proofs

    def holders(self, miner_peer: str | None) -> list[str]:
        """Peers that may hold a miner's openings or adapter (their answers are checked against the
        chain before use): the miner's own first while it is connected, else last, after every
        connected peer (dialling a peer that is down can take the whole timeout; openings and
        adapters are asked of four of these at once, node/p2p/fanout.py)."""
        connected = self.ctx.p2p.connected_peers() if self.ctx.p2p is not None else []
        others = [p for p in connected if p != miner_peer][: MAX_HOLDERS - 1]
        if not miner_peer:
            return others
        return [miner_peer, *others] if miner_peer in connected else [*others, miner_peer]

    def gossiped_rollouts(self, task_id: int, miner: str, total: int) -> list[Any]:
        """The miner's rollouts received by gossip; when some are missing, first repair from every
        connected peer's history (an honest miner must not fail an audit because of the network)."""
        rows = [r for r in self.ctx.store.received_rollouts(task_id) if r.miner == miner]
        if len(rows) < total and self.ctx.settings.use_gossip and catch_up_task(self.ctx, task_id):
            rows = [r for r in self.ctx.store.received_rollouts(task_id) if r.miner == miner]
        return rows

    def policy_for(self, miner: str, adapter_hash: bytes) -> Any:
        """Base model + the adapter the miner joined with (fetched by hash from the miner's peer or,
        failing that, any connected peer: the canonical hash decides which bytes are right)."""
        from verifier.models import ModelError, load_adapter

        if adapter_hash in self.policies:
            return self.policies[adapter_hash]
        directory = self.adapter_dir / ("0x" + adapter_hash.hex())
        if not directory.exists():
            peers = self.holders(peer_id_of(self.ctx, miner))
            if not peers or self.ctx.p2p is None:
                return None
            try:
                fetch_adapter_blob(self.ctx.p2p, peers, adapter_hash, self.adapter_dir)
            except Exception as exc:  # noqa: BLE001 - RequestError / ModelError: the miner failed to serve
                log.warning("adapter 0x%s of %s could not be fetched: %s", adapter_hash.hex(), miner, exc)
                return None
        try:
            policy = load_adapter(copy.deepcopy(self.model), directory, expected_hash=adapter_hash)
        except ModelError as exc:
            log.warning("adapter 0x%s of %s is unusable: %s", adapter_hash.hex(), miner, exc)
            return None
        policy.eval()
        self.policies[adapter_hash] = policy
        return policy

    # ---- commit, reveal, finalize ----------------------------------------------------------------

    def stored_verdicts(self, task_id: int) -> tuple[list[ChainVerdict], bytes]:
        row = self.ctx.store.verdict(task_id)
        assert row is not None
        verdicts = [chain_verdict(v) for v in row.verdicts]
        return verdicts, bytes.fromhex(row.salt[2:])

    def commit_verdict(self, tv: TaskView, now: float) -> bool:
        store = self.ctx.store
        if now > tv.params.verdict_deadline - DEADLINE_MARGIN:
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
        if chain_now(self.ctx) <= tv.params.verdict_deadline:
            return False
        if now > tv.params.verify_deadline - DEADLINE_MARGIN:
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
        if chain_now(self.ctx) <= tv.params.verify_deadline + FINALIZE_DELAY["validator"]:
            return False
        settlement = self.ctx.chain.settlement
        if not settlement.task_settlement(tv.task_id).finalized:
            if not self.ctx.settings.finalize:
                return False  # --no-finalize: wait until someone else finalizes
            if not record_beacon_on_chain(self.ctx, tv.challenge_round):
                return False
            resolve_open_disputes(self.ctx, tv.task_id)
            try:
                settlement.finalize(tv.task_id)
            except ChainRevert as exc:
                if exc.name in FINALIZE_WAITS:
                    return False  # a FAILED miner may still dispute, or a jury is ruling (§2.10)
                if not settlement.task_settlement(tv.task_id).finalized:
                    raise
                log.info("task %d was finalized by someone else first (%s)", tv.task_id, exc)
            except ChainError as exc:
                if not settlement.task_settlement(tv.task_id).finalized:
                    raise
                log.info("task %d was finalized by someone else first (%s)", tv.task_id, exc)
        vs = self.settle_self(tv.task_id)
        if settlement.claimable(self.ctx.address) > 0:
            settlement.send("claim", description=f"claim after task {tv.task_id}")
        self.ctx.store.transition(tv.task_id, Role.VALIDATOR, ValidatorState.FINALIZED)
        leave_task(self.ctx, tv.task_id)
        event(
            log,
            f"task {tv.task_id} finalized, fee {format_rpt(vs.fee)}, jackpot {format_rpt(vs.jackpot)}",
            task=tv.task_id,
            penalized=vs.penalized,
            fee=format_rpt(vs.fee),
            jackpot=format_rpt(vs.jackpot),
            forfeited=format_rpt(vs.bond if vs.penalized else 0),
        )
        return True

    # ---- Settlement v2 obligations: committee seats, bond, settlement (PROTOCOL.md §2.7-2.9) ---

    def not_seated(self, task_id: int) -> str | None:
        """Why this validator must not audit or vote on the task (None when it holds seats and can bond them)."""
        seats = committee_seats(self.ctx, task_id)
        if not seats:
            return "not on the committee"
        bond = settlement_params(self.ctx).validator_bond * seats
        have = free_stake(self.ctx, ChainRole.VALIDATOR)
        if have < bond:
            return f"the bond for {seats} seat(s) is {bond}, only {have} of validator stake is free"
        event(log, "on the committee", task=task_id, seats=seats, bond=bond)
        return None

    def settle_self(self, task_id: int) -> Any:
        """settleValidator for this member: releases or forfeits the bond, credits fee and jackpots."""
        settlement = self.ctx.chain.settlement
        try:
            settlement.settle_validator(task_id)
        except ChainError as exc:
            if not settlement.validator_state(task_id, self.ctx.address).settled:
                raise
            log.info("task %d: this validator was settled by someone else first (%s)", task_id, exc)
        vs = settlement.validator_state(task_id, self.ctx.address)
        self.ctx.store.record_outcome(
            task_id,
            self.ctx.address,
            Role.VALIDATOR,
            "PENALIZED" if vs.penalized else "SETTLED",
            paid=vs.fee + vs.jackpot,
            slashed=vs.bond if vs.penalized else 0,
        )
        return vs

    def misbehave(self, tv: TaskView, miners: list[str], challenge_randomness: bytes) -> bool:
        """Devnet/tests only: vote without auditing, "lazy" (PASS) or "always-fail" (FAIL, LOGPROB)."""
        from verifier.challenge import get_challenge
        from verifier.params import AuditParams

        lazy = self.ctx.settings.misbehave == "lazy"
        total = tv.params.num_problems * tv.params.rollouts_per_problem
        verdicts = []
        for miner in miners:
            first = get_challenge(
                challenge_randomness, tv.task_id, miner, total, AuditParams(rollouts=1)
            ).indices[0]
            verdicts.append(
                {
                    "miner": miner,
                    "vote": int(Vote.PASS if lazy else Vote.FAIL),
                    "score": 1_000_000 if lazy else 0,
                    "audited": 0,
                    "rollout_index": 0 if lazy else first,
                    "position": 0,
                    "check": int(Check.NONE if lazy else Check.LOGPROB),
                }
            )
        salt = secrets.token_bytes(32)
        digest = verdict_hash(tv.task_id, self.ctx.address, [chain_verdict(v) for v in verdicts], salt)
        with self.ctx.store.transaction() as s:
            self.ctx.store.save_verdict(tv.task_id, verdicts, salt, digest, session=s)
            self.ctx.store.transition(tv.task_id, Role.VALIDATOR, ValidatorState.AUDITED, session=s)
        event(log, "verdicts ready without auditing", task=tv.task_id, behaviour=self.ctx.settings.misbehave)
        return True

    def done(self) -> bool:
        ended = (ValidatorState.FINALIZED, ValidatorState.SKIPPED, ValidatorState.FAILED)
        return max_tasks_done(self.ctx, Role.VALIDATOR, ended, ACTIVE)


# ---- verdicts as the chain takes them (PROTOCOL.md §2.7) ------------------------------------------

# The checks of verifier.verify mapped to the evidence codes the contract records for a FAIL.
CHECK_CODES = {
    "token": Check.TOKEN,
    "logprob": Check.LOGPROB,
    "reward": Check.REWARD,
    "policy": Check.MODEL,  # the policy is not base + the adapter the miner joined with
    "identity": Check.STRUCTURE,
    "inclusion": Check.STRUCTURE,
    "prompt": Check.STRUCTURE,
    "length": Check.STRUCTURE,
    "termination": Check.STRUCTURE,
}
EVIDENCE_ORDER = (
    "token",
    "logprob",
    "reward",
    "policy",
    "inclusion",
    "identity",
    "prompt",
    "length",
    "termination",
)


def verdict_record(miner: str, result: Any) -> dict[str, Any]:
    """The stored form of a verdict: PASS; FAIL naming the first failure (rollout, position, check);
    UNAVAILABLE when the only failure is that openings were not served (not attributable)."""
    import re

    base = {
        "miner": miner,
        "score": result.score,
        "audited": result.audited,
        "rollout_index": 0,
        "position": 0,
    }
    if result.passed:
        return {**base, "vote": int(Vote.PASS), "check": int(Check.NONE)}
    failures = [f for f in result.failures if f.check != "missing"]
    if not failures:
        return {**base, "vote": int(Vote.UNAVAILABLE), "check": int(Check.NONE)}
    first = min(failures, key=lambda f: EVIDENCE_ORDER.index(f.check) if f.check in EVIDENCE_ORDER else 99)
    at = re.search(r"t=(\d+)", first.detail)
    return {
        **base,
        "vote": int(Vote.FAIL),
        "check": int(CHECK_CODES.get(first.check, Check.STRUCTURE)),
        "rollout_index": first.index,
        "position": int(at.group(1)) if at else 0,
    }


def chain_verdict(v: dict[str, Any]) -> ChainVerdict:
    """A stored verdict record as the contract's Verdict (records of older versions: pass/fail only)."""
    if "vote" not in v:
        return ChainVerdict.from_pass(v["miner"], v["pass"], v["score"], v["audited"])
    return ChainVerdict(
        v["miner"],
        Vote(v["vote"]),
        int(v["score"]),
        int(v["audited"]),
        int(v.get("rollout_index", 0)),
        int(v.get("position", 0)),
        Check(v.get("check", 0)),
    )


def run(config: Any) -> int:
    """`rollproof validator`: audit and settle tasks until stopped (or max_tasks)."""
    return run_staked_role(
        config,
        "validator",
        Role.VALIDATOR,
        ChainRole.VALIDATOR,
        Validator,
        start_network=lambda node: node.start_network(),
        ready_fields=lambda s: {"model": s.model},
    )
