"""The miner role: join, wait for the seed beacon, generate with the prover, gossip, commit, serve
openings and adapters, learn between tasks (SAPO), claim.

State machine (node/store/states.py MinerState), one step per loop iteration and task:
SEEN -join-> JOINED -seed beacon-> SEEDED -generate-> GENERATED -commit-> COMMITTED -finalized->
SETTLED -claim-> CLAIMED; SKIPPED when the task is not for us or too late to join, FAILED when a
window closed after we bound ourselves. Each step persists before it acts (the joined adapter hash,
the rollouts, the root) so a restarted miner regenerates nothing it committed to and never sends an
action twice (chain/ clients check the chain, the transaction journal re-sends the same bytes).

Forced errors (PROTOCOL.md §2.8): the miner joins with a commitment to a secret derived from its
key and the task id (so a restart recovers it); after the seed beacon it checks whether the task
forces it, and if so stores, commits, gossips and serves the prescribed wrong commitment (honest
tokens, every logprob shifted by FORCED_LOGPROB_SHIFT) and proves it with revealForcedError in the
reveal window. Joining locks lockAmount(task) of free miner stake; a miner without it skips.

`cheat = true` (devnets and tests only) makes the miner generate with a cheaper model and fill the
logprobs in by a prefill of the real model: the audit's token check at the challenged positions
catches it and the validators slash it. A cheater ignores forced errors.

Over 400 lines for a reason: one role's state machine, a method per step above, sharing the
loaded model, adapter and store; what another role shares is already out (audit.py, dispute.py,
learning.py), and the wire format, serving and staking live in their own rooms.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from chain.clients import Outcome, forced_error_commitment
from chain.clients import Role as ChainRole
from chain.errors import ChainError, ChainRevert, format_rpt
from node.model import load_model_spec
from node.roles.audit import audited_spec, join_tokenizer_problem
from node.roles.startup import run_staked_role
from node.runtime.context import NodeContext
from node.runtime.errors import RoleError
from node.runtime.loop import advance_with_crash_point, max_tasks_done, step_tasks
from node.runtime.network import (
    join_task_topics,
    keep_gossiped_rollout,
    leave_task,
    received_openings,
    start_p2p,
    to_wire,
)
from node.runtime.observe import event
from node.staking import free_stake
from node.store import MinerState, Role, RolloutRecord
from node.tasks.beacons import record_beacon_on_chain, task_randomness
from node.tasks.obligations import forced_error_rollouts, forced_error_secret, forced_on_task
from node.tasks.view import DEADLINE_MARGIN, FINALIZE_DELAY, TaskView, chain_now, sync_tasks, task_view
from verifier.commitments import MerkleTree, leaf_hash
from verifier.rollout import Rollout, TaskSpec

log = logging.getLogger("rollproof.miner")
ACTIVE = (
    MinerState.SEEN,
    MinerState.JOINED,
    MinerState.SEEDED,
    MinerState.GENERATED,
    MinerState.COMMITTED,
    MinerState.SETTLED,
)


class Miner:
    def __init__(self, ctx: NodeContext) -> None:
        from node.model import PrecisionError, load_pinned_model
        from verifier.models import model_hash, new_adapter

        self.ctx = ctx
        s = ctx.settings
        try:
            self.model, self.tokenizer = load_pinned_model(s.model, load_model_spec)
        except PrecisionError as exc:
            raise RoleError(str(exc)) from None
        self.base_hash = model_hash(self.model)
        self.policy = new_adapter(self.model, rank=s.lora_rank, seed=0)
        self.policy.eval()
        self.adapter_dir = s.adapter_path
        self.adapter_dir.mkdir(parents=True, exist_ok=True)
        self.current_adapter = self._restore_adapter()
        self.loaded_adapter = self.current_adapter
        self.cheap_model = load_model_spec(s.cheap_model)[0] if s.cheat else None
        self.trees: dict[int, tuple[MerkleTree, list[Rollout]]] = {}
        self.gossiped: set[int] = set()
        self.dispute_checked: set[int] = set()  # tasks whose FAIL evidence this miner re-audited
        self.subscribed: set[int] = set()
        self.lock = threading.Lock()  # the model is used by the loop and by openings requests
        self.envs: dict[str, Any] = {}
        self._scalars: Any = None

    def scalar(self, tag: str, value: float, step: int) -> None:
        """TensorBoard scalars under --tensorboard-dir (reward, correctness, length, loss per task)."""
        try:
            if self._scalars is None:
                from torch.utils.tensorboard import SummaryWriter

                self._scalars = SummaryWriter(str(self.ctx.settings.tensorboard_path))
            self._scalars.add_scalar(tag, value, step)
            self._scalars.flush()
        except Exception:  # noqa: BLE001 - observability must never stop mining
            log.debug("tensorboard scalar %s not written", tag, exc_info=True)

    # ---- adapters ----------------------------------------------------------------------------

    def _adapter_path(self, adapter_hash: bytes) -> Path:
        return self.adapter_dir / ("0x" + adapter_hash.hex())

    def _save_current(self, task_id: int | None, parent: bytes | None) -> bytes:
        """Write the policy's adapter (directory + blob) and record it as this miner's newest."""
        from verifier.models import adapter_hash, adapter_to_bytes, save_adapter

        h = adapter_hash(self.policy)
        path = self._adapter_path(h)
        if not path.exists():
            save_adapter(self.policy, path)
        blob = path.with_suffix(".bin")
        if not blob.exists():
            blob.write_bytes(adapter_to_bytes(path))
        self.ctx.store.add_adapter(h, path, parent=parent, own=True, task_id=task_id)
        return h

    def _restore_adapter(self) -> bytes:
        """The newest own adapter from the store (after a restart), else the fresh one."""
        row = self.ctx.store.latest_own_adapter()
        if row is None:
            return self._save_current(None, None)
        h = bytes.fromhex(row.adapter_hash[2:])
        self._activate(h)
        return h

    def _activate(self, adapter_hash: bytes) -> None:
        """Load the tensors of an own adapter into the live policy (generation must use the joined one)."""
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        from verifier.models import ADAPTER_WEIGHTS_FILE
        from verifier.models import adapter_hash as hash_of

        if getattr(self, "loaded_adapter", None) == adapter_hash:
            return
        path = self._adapter_path(adapter_hash)
        tensors = load_file(str(path / ADAPTER_WEIGHTS_FILE))
        set_peft_model_state_dict(self.policy, tensors)
        if hash_of(self.policy) != adapter_hash:
            raise RoleError(
                f"The stored adapter {path} does not hash to 0x{adapter_hash.hex()}; it was altered."
            )
        self.loaded_adapter = adapter_hash

    def adapter_file(self, adapter_hash: bytes) -> Path | None:
        row = self.ctx.store.adapter(adapter_hash)
        if row is None or not row.own:
            return None
        blob = Path(row.path).with_suffix(".bin")
        return blob if blob.exists() else None

    # ---- p2p ---------------------------------------------------------------------------------

    def start_p2p(self) -> None:
        node = start_p2p(self.ctx)
        node.serve_openings(self.serve_openings)
        node.serve_adapters(self.adapter_file)

    def subscribe(self, task_id: int) -> None:
        """Follow the task's rollouts (swarm experience for SAPO) and evaluators' scores."""
        join_task_topics(self.ctx, self.subscribed, task_id, self.on_rollout, self.on_evaluation)

    def on_rollout(self, received: Any) -> None:
        if received.payload.miner != self.ctx.address:
            keep_gossiped_rollout(self.ctx, received)

    def on_evaluation(self, received: Any) -> None:
        """Take a rollout's reward from a staked evaluator, never from the rollout's sender."""
        msg = received.payload
        if received.signer != msg.evaluator or not self.ctx.chain.stakes.is_staked(
            msg.evaluator, ChainRole.EVALUATOR
        ):
            return
        try:
            self.ctx.store.set_received_reward(msg.task_id, msg.miner, msg.p, msg.g, msg.score)
        except Exception:  # noqa: BLE001 - the score arrived before the rollout; the trainer re-scores
            log.debug("evaluation for an unknown rollout", exc_info=True)

    def serve_openings(
        self, task_id: int, miner: str, pairs: list[tuple[int, int]]
    ) -> list[tuple[Any, list[bytes]]]:
        """Our own committed rollouts with proofs from our tree; another miner's from the gossip we
        kept of it (all P*G or nothing; the asker checks each against that miner's root on chain)."""
        from node.p2p.reqresp import FrameError

        if miner.lower() != self.ctx.address.lower():
            return received_openings(self.ctx, task_id, miner, pairs)
        state = self.ctx.store.task_state(task_id, Role.MINER)
        if state not in (MinerState.COMMITTED, MinerState.SETTLED, MinerState.CLAIMED, MinerState.FAILED):
            raise FrameError(f"task {task_id} has no commitment from this miner")
        tree, rollouts = self.tree(task_id)
        tv = task_view(self.ctx, task_id)
        out = []
        for p, g in pairs:
            if not (0 <= p < tv.params.num_problems and 0 <= g < tv.params.rollouts_per_problem):
                raise FrameError(f"rollout ({p}, {g}) is outside the task")
            r = rollouts[p * tv.params.rollouts_per_problem + g]
            out.append((to_wire(r), tree.proof(leaf_hash(r))))
        return out

    # ---- tasks -------------------------------------------------------------------------------

    def env(self, name: str) -> Any:
        from node.tasks.view import get_env

        if name not in self.envs:
            self.envs[name] = get_env(name)
        return self.envs[name]

    def tree(self, task_id: int) -> tuple[MerkleTree, list[Rollout]]:
        """The Merkle tree over the stored own rollouts in commit order (p * G + g)."""
        if task_id not in self.trees:
            tv = task_view(self.ctx, task_id)
            seed = task_randomness(self.ctx, task_id, "seed")
            assert seed is not None
            spec = tv.spec(seed)
            rollouts = self.stored_rollouts(tv, spec)
            self.trees[task_id] = (MerkleTree.of([leaf_hash(r) for r in rollouts]), rollouts)
        return self.trees[task_id]

    def stored_rollouts(self, tv: TaskView, spec: TaskSpec) -> list[Rollout]:
        from verifier.sampler import chat_prompt_ids, task_problems

        env = self.env(tv.env_name or "")
        problems = task_problems(env, spec)
        prompts = {p.index: chat_prompt_ids(self.tokenizer, env.messages(p)) for p in problems}
        rows = sorted(self.ctx.store.own_rollouts(tv.task_id), key=lambda r: (r.problem, r.index))
        if len(rows) != spec.total_rollouts:
            raise RoleError(
                f"Task {tv.task_id}: {len(rows)} rollouts stored, {spec.total_rollouts} expected."
            )
        out = []
        for row in rows:
            r = Rollout(
                tv.task_id,
                self.ctx.address,
                row.problem,
                row.index,
                tuple(prompts[row.problem]),
                tuple(row.tokens),
                tuple(row.logprobs),
                row.claimed_reward,
                row.completion,
            )
            if "0x" + leaf_hash(r).hex() != row.leaf:
                raise RoleError(
                    f"Task {tv.task_id}: stored rollout ({row.problem}, {row.index}) does not match its leaf."
                )
            out.append(r)
        return out

    def step(self) -> bool:
        busy = sync_tasks(self.ctx) > 0
        # New tasks first: a join window is short, and a training step between tasks must never
        # make the miner miss the next task's join (it joins with its current adapter instead).
        seen = self.ctx.store.tasks_in_state(Role.MINER, [MinerState.SEEN])
        others = [t for t in self.ctx.store.tasks_in_state(Role.MINER, ACTIVE) if t not in seen]
        return step_tasks(self.ctx, seen + others, self.advance) or busy

    def advance(self, task_id: int) -> bool:
        return advance_with_crash_point(self.ctx, Role.MINER, task_id, self._advance)

    def _advance(self, task_id: int) -> bool:
        store, me = self.ctx.store, self.ctx.address
        state = store.task_state(task_id, Role.MINER)
        tv = task_view(self.ctx, task_id)
        now = time.time()
        if state == MinerState.SEEN:
            return self.join(tv, now)
        if state in (MinerState.JOINED, MinerState.SEEDED, MinerState.GENERATED):
            self.subscribe(task_id)
            if now > tv.params.commit_deadline - DEADLINE_MARGIN:
                store.transition(
                    task_id, Role.MINER, MinerState.FAILED, note=f"commit deadline passed in {state}"
                )
                event(log, "missed the commit deadline", task=task_id, state=str(state))
                return True
        if state == MinerState.JOINED:
            seed = task_randomness(self.ctx, task_id, "seed")
            if seed is None:
                return False
            store.transition(task_id, Role.MINER, MinerState.SEEDED)
            event(log, "seed beacon verified", task=task_id, round=tv.seed_round)
            return True
        if state == MinerState.SEEDED:
            return self.generate(tv)
        if state == MinerState.GENERATED:
            return self.commit(tv)
        if state == MinerState.COMMITTED:
            return self.await_settlement(tv, now)
        if state == MinerState.SETTLED:
            self.ctx.chain.settlement.send("claim", description=f"claim after task {task_id}") if (
                self.ctx.chain.settlement.claimable(me) > 0
            ) else None
            store.transition(task_id, Role.MINER, MinerState.CLAIMED)
            leave_task(self.ctx, task_id)
            self.subscribed.discard(task_id)
            self.trees.pop(task_id, None)
            return True
        return False

    def join(self, tv: TaskView, now: float) -> bool:
        store, task_id = self.ctx.store, tv.task_id
        reason = None
        if tv.env_name is None:
            reason = "unknown environment"
        elif tv.params.base_model_hash != self.base_hash:
            reason = "the task's base model is not this node's model"
        elif (mismatch := join_tokenizer_problem(self.ctx, task_id, self.tokenizer)) is not None:
            reason = str(mismatch)
        elif now > tv.params.join_deadline - DEADLINE_MARGIN:
            reason = "too late to join"
        elif self.ctx.settings.max_tasks and self.finished_tasks() >= self.ctx.settings.max_tasks:
            reason = "max_tasks reached"
        else:
            reason = self.lock_shortfall(task_id)
        if reason is not None:
            store.transition(task_id, Role.MINER, MinerState.SKIPPED, note=reason)
            event(log, "skipped task", task=task_id, reason=reason)
            return True
        # The adapter is fixed (and persisted) before the join is sent: after a restart the miner
        # generates with exactly the adapter it joined with.
        joined = {c.miner: c for c in store.commitments(task_id)}.get(self.ctx.address)
        adapter = (
            bytes.fromhex(joined.adapter_hash[2:]) if joined and joined.adapter_hash else self.current_adapter
        )
        store.record_join(task_id, self.ctx.address, adapter)
        try:
            commit = forced_error_commitment(
                task_id, self.ctx.address, forced_error_secret(self.ctx, task_id)
            )
            receipt = self.ctx.chain.settlement.join(task_id, adapter, commit)
        except ChainRevert as exc:
            if self.ctx.chain.settlement.miner_state(task_id, self.ctx.address).joined:
                raise
            store.transition(task_id, Role.MINER, MinerState.SKIPPED, note=f"join refused: {exc}")
            return True
        store.transition(
            task_id, Role.MINER, MinerState.JOINED, note=receipt.tx_hash if receipt else "already joined"
        )
        event(log, "joined task", task=task_id, adapter="0x" + adapter.hex())
        self.subscribe(task_id)
        return True

    # ---- Settlement v2 obligations: stake lock, forced errors (PROTOCOL.md §2.6, §2.8) -----------

    def lock_shortfall(self, task_id: int) -> str | None:
        """Why this miner cannot join: join locks lockAmount(task) of its free stake (None if it can)."""
        settlement = self.ctx.chain.settlement
        if settlement.miner_state(task_id, self.ctx.address).joined:
            return None
        need = settlement.lock_amount(task_id)
        have = free_stake(self.ctx, ChainRole.MINER)
        if have < need:
            return f"joining locks {need} of free miner stake, only {have} is free"
        return None

    def obey_forced_error(self, tv: TaskView, rollouts: list[Rollout]) -> list[Rollout]:
        """On a forced task, the prescribed wrong commitment (honest tokens, shifted logprobs) is what
        gets stored, committed, gossiped and served; validators that audit flag it."""
        forced = forced_on_task(self.ctx, tv.task_id)
        if not forced or self.ctx.settings.cheat:
            # The devnet's cheater fakes its rollouts whatever the draw and never takes the forced-error
            # exit, so its slash does not depend on luck (docs/SECURITY.md: "shirking when forced").
            return rollouts
        event(log, "forced error: committing the prescribed wrong commitment", task=tv.task_id)
        return forced_error_rollouts(rollouts)

    def reveal_forced_error(self, tv: TaskView, now: float) -> bool:
        """In the reveal window (verdictDeadline, verifyDeadline], prove the forced error on chain."""
        if self.ctx.settings.cheat or not forced_on_task(self.ctx, tv.task_id):
            return False
        if (
            chain_now(self.ctx) <= tv.params.verdict_deadline
            or now > tv.params.verify_deadline - DEADLINE_MARGIN
        ):
            return False
        settlement = self.ctx.chain.settlement
        if settlement.miner_state(tv.task_id, self.ctx.address).forced:
            return False
        if not record_beacon_on_chain(self.ctx, tv.seed_round):
            return False
        receipt = settlement.reveal_forced_error(tv.task_id, forced_error_secret(self.ctx, tv.task_id))
        event(log, "forced error revealed", task=tv.task_id, tx=receipt.tx_hash if receipt else None)
        return True

    def finished_tasks(self) -> int:
        return len(self.ctx.store.tasks_in_state(Role.MINER, (MinerState.SETTLED, MinerState.CLAIMED)))

    def generate(self, tv: TaskView) -> bool:
        seed = task_randomness(self.ctx, tv.task_id, "seed")
        assert seed is not None
        spec = audited_spec(self.ctx, tv, seed)
        joined = {c.miner: c for c in self.ctx.store.commitments(tv.task_id)}[self.ctx.address]
        started = time.monotonic()
        with self.lock:
            self._activate(bytes.fromhex(joined.adapter_hash[2:]))
            rollouts = self.cheat_rollouts(tv, spec) if self.ctx.settings.cheat else self.prove(tv, spec)
            # The devnet's cheater commits on purpose; an honest miner checks itself first.
            if not self.ctx.settings.cheat and not self.self_audit_before_commit(tv, spec, rollouts):
                return True
        # Self-audit first (the honest rollouts); a forced miner then commits the prescribed error.
        rollouts = self.obey_forced_error(tv, rollouts)
        records = [
            RolloutRecord(
                problem=r.p,
                index=r.g,
                tokens=list(r.tokens),
                logprobs=[float(x) for x in r.logprobs],
                claimed_reward=r.claimed_reward,
                leaf=leaf_hash(r),
                completion=r.completion,
            )
            for r in rollouts
        ]
        with self.ctx.store.transaction() as s:
            self.ctx.store.add_own_rollouts(tv.task_id, records, session=s)
            self.ctx.store.transition(tv.task_id, Role.MINER, MinerState.GENERATED, session=s)
        mean = sum(r.claimed_reward for r in rollouts) / max(1, len(rollouts)) / 1e6
        self.scalar("reward/mean", mean, tv.task_id)
        self.scalar(
            "reward/correct_fraction",
            sum(r.claimed_reward >= 800_000 for r in rollouts) / max(1, len(rollouts)),
            tv.task_id,
        )
        self.scalar(
            "completion/length", sum(len(r.tokens) for r in rollouts) / max(1, len(rollouts)), tv.task_id
        )
        event(
            log,
            "generated rollouts",
            task=tv.task_id,
            rollouts=len(rollouts),
            mean_reward=round(mean, 4),
            seconds=round(time.monotonic() - started, 2),
            tokens=sum(len(r.tokens) for r in rollouts),
        )
        return True

    # ---- self-audit: the validators' checks on a sample of our own rollouts, before committing ----

    def self_audit_before_commit(self, tv: TaskView, spec: TaskSpec, rollouts: list[Rollout]) -> bool:
        """Check the precision is still pinned and audit a sample of our rollouts with the validators'
        code and the task's tolerances. On failure: no commit (FAILED, with the reason), so a
        misconfigured miner loses the task's reward instead of its stake."""
        from node.model import PrecisionError, check_precision
        from node.roles.audit import self_audit

        try:
            check_precision()
            result = self_audit(
                self.policy, self.tokenizer, self.env(tv.env_name or ""), spec, self.ctx.address, rollouts
            )
        except PrecisionError as exc:
            reason = str(exc)
        else:
            if result.passed:
                event(log, "self-audit passed", task=tv.task_id, rollouts=result.indices)
                return True
            reason = f"self-audit failed, validators would reject these rollouts: {result.reason()}"
        log.error("task %d: refusing to commit: %s", tv.task_id, reason)
        self.ctx.store.transition(
            tv.task_id, Role.MINER, MinerState.FAILED, note=f"refused to commit: {reason}"[:1000]
        )
        return False

    def prove(self, tv: TaskView, spec: TaskSpec) -> list[Rollout]:
        from verifier.sampler import prove_rollouts

        return prove_rollouts(
            self.policy,
            self.tokenizer,
            self.env(tv.env_name or ""),
            spec,
            self.ctx.address,
            batch_size=self.ctx.settings.batch_size,
        )

    def cheat_rollouts(self, tv: TaskView, spec: TaskSpec) -> list[Rollout]:
        """Generate with the cheap model, then claim the real policy's logprobs (found by one prefill)."""
        from verifier.sampler import pad_token_id, prove_rollouts
        from verifier.verify import prefill_logprobs

        cheap = prove_rollouts(
            self.cheap_model,
            self.tokenizer,
            self.env(tv.env_name or ""),
            spec,
            self.ctx.address,
            batch_size=self.ctx.settings.batch_size,
        )
        logprobs = prefill_logprobs(
            self.policy,
            [r.prompt_ids for r in cheap],
            [r.tokens for r in cheap],
            spec.temperature,
            pad_token_id(self.tokenizer),
        )
        return [
            Rollout(
                r.task_id,
                r.miner,
                r.p,
                r.g,
                r.prompt_ids,
                r.tokens,
                tuple(lp),
                r.claimed_reward,
                r.completion,
            )
            for r, lp in zip(cheap, logprobs, strict=True)
        ]

    def gossip(self, task_id: int) -> None:
        from node.p2p import rollouts_topic

        if task_id in self.gossiped or self.ctx.p2p is None:
            return
        _, rollouts = self.tree(task_id)
        topic = rollouts_topic(task_id)
        for r in rollouts:
            self.ctx.p2p.publish(topic, to_wire(r))
        self.gossiped.add(task_id)
        event(log, "gossiped rollouts", task=task_id, rollouts=len(rollouts))

    def commit(self, tv: TaskView) -> bool:
        tree, rollouts = self.tree(tv.task_id)
        count = tv.params.num_problems * tv.params.rollouts_per_problem
        self.ctx.store.record_commitment(tv.task_id, self.ctx.address, tree.root, count)
        receipt = self.ctx.chain.settlement.commit(tv.task_id, tree.root, count)
        self.ctx.store.transition(
            tv.task_id,
            Role.MINER,
            MinerState.COMMITTED,
            note=receipt.tx_hash if receipt else "already committed",
        )
        event(log, "committed", task=tv.task_id, root="0x" + tree.root.hex(), count=count)
        try:
            self.gossip(tv.task_id)
        except Exception as exc:  # noqa: BLE001 - gossip is best effort; openings serve validators
            log.warning("gossip of task %d failed: %s", tv.task_id, exc)
        return True

    def await_settlement(self, tv: TaskView, now: float) -> bool:
        settlement = self.ctx.chain.settlement
        if tv.task_id not in self.gossiped and now < tv.params.commit_deadline:
            # Restarted after committing: the gossip may never have gone out (it is idempotent).
            try:
                self.gossip(tv.task_id)
            except Exception as exc:  # noqa: BLE001 - best effort; openings serve validators
                log.warning("gossip of task %d failed: %s", tv.task_id, exc)
        if not settlement.task_settlement(tv.task_id).finalized:
            if self.reveal_forced_error(tv, now):
                return True
            if self.dispute_if_wrongly_failed(tv):
                return True
            if chain_now(self.ctx) > tv.params.verify_deadline + FINALIZE_DELAY["miner"]:
                # Anyone may finalize; a miner does it too so its task never waits for validators.
                if record_beacon_on_chain(self.ctx, tv.challenge_round):
                    try:
                        settlement.finalize(tv.task_id)
                    except ChainError as exc:
                        log.info("finalize of task %d by this miner failed: %s", tv.task_id, exc)
            return False
        ms = settlement.miner_state(tv.task_id, self.ctx.address)
        self.ctx.store.record_outcome(
            tv.task_id,
            self.ctx.address,
            Role.MINER,
            Outcome(ms.outcome).name,
            score=ms.score,
            paid=ms.paid,
            slashed=ms.slashed,
        )
        self.ctx.store.transition(tv.task_id, Role.MINER, MinerState.SETTLED, note=Outcome(ms.outcome).name)
        event(
            log,
            f"task settled: {Outcome(ms.outcome).name}, paid {format_rpt(ms.paid)}, slashed {format_rpt(ms.slashed)}",
            task=tv.task_id,
            outcome=Outcome(ms.outcome).name,
            paid=format_rpt(ms.paid),
            slashed=format_rpt(ms.slashed),
        )
        if self.ctx.settings.train:
            self.learn(tv)
        return True

    def dispute_if_wrongly_failed(self, tv: TaskView) -> bool:
        """PROTOCOL.md §2.10: dispute a FAIL whose named evidence passes our own re-audit, and resolve
        disputes past their reveal deadline so the task can be finalized."""
        from node.roles.dispute import dispute_if_wrongly_failed, resolve_open_disputes

        try:
            return dispute_if_wrongly_failed(self, tv) or resolve_open_disputes(self.ctx, tv.task_id)
        except ChainError as exc:
            log.warning("task %d: dispute step failed: %s", tv.task_id, exc)
            return False

    def learn(self, tv: TaskView) -> None:
        """One SAPO step on local + swarm rollouts; the new adapter is used for the next join."""
        from node.roles.learning import sapo_step

        with self.lock:
            stats = sapo_step(self, tv)
            if stats is None:
                return
            self.loaded_adapter = None
            parent = self.current_adapter
            self.current_adapter = self._save_current(tv.task_id, parent)
            self.loaded_adapter = self.current_adapter
        self.scalar("train/loss", stats.get("loss", 0.0), tv.task_id)
        event(log, "trained adapter", task=tv.task_id, adapter="0x" + self.current_adapter.hex(), **stats)

    def done(self) -> bool:
        """With max_tasks: every task seen has reached a terminal state and max_tasks of them ended."""
        ended = (MinerState.CLAIMED, MinerState.FAILED, MinerState.SKIPPED)
        return max_tasks_done(self.ctx, Role.MINER, ended, ACTIVE)


def run(config: Any) -> int:
    """`rollproof miner`: run a miner until stopped (or max_tasks). Returns the exit code."""
    return run_staked_role(
        config,
        "miner",
        Role.MINER,
        ChainRole.MINER,
        Miner,
        start_network=lambda miner: miner.start_p2p(),
        ready_fields=lambda s: {"cheat": s.cheat, "model": s.model},
    )
