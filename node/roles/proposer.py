"""The proposer role: fund and post tasks, adapt the difficulty to the swarm's measured success,
finalize its tasks after the verify deadline (permissionless, so no task waits on anyone) and claim
the refund.

Tasks are posted one after another: the next one when the previous one is finalized, so the
miners' learning step between tasks sees the settled outcome, and the curriculum sees the
verified scores. Each post is journaled under the intent "posting task #k": a restarted proposer
counts its own tasks on chain plus journaled posts and never posts one twice.

Curriculum: the success rate of a task is the mean verified score (6 decimals, from the
`MinerSettled` outcomes of passed miners). Below the band's low end the difficulty goes down, above
its high end it goes up, so GRPO keeps seeing groups with reward variance.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from chain.clients import Outcome, TaskParams, env_id
from chain.errors import ChainError, ChainRevert, format_rpt
from node.model import load_model_spec, set_threads
from node.runtime.context import NodeContext, open_context
from node.runtime.errors import RoleError
from node.runtime.loop import run_loop, step_tasks
from node.runtime.observe import event, setup_role_logging, start_metrics
from node.runtime.settings import settings_from
from node.store import ProposerState, Role
from node.tasks.beacons import record_beacon_on_chain
from node.tasks.view import FINALIZE_DELAY, chain_now, sync_tasks, task_view

log = logging.getLogger("rollproof.proposer")


def audit_fields(settings: Any) -> dict[str, int]:
    """The task's audit parameters as posted: m and k from the proposer's settings, the tolerances
    and dtype from the protocol's calibrated defaults (verifier.params, PROTOCOL §9.2)."""
    from verifier.params import DEFAULT_EDGE_SLACK_NANO, DEFAULT_LOGPROB_TOL_NANO, DTYPE_FP32

    return {
        "audit_rollouts": min(settings.audit_count, settings.num_problems * settings.rollouts_per_problem),
        "audit_positions": settings.positions,
        "logprob_tol_nano": DEFAULT_LOGPROB_TOL_NANO,
        "edge_slack_nano": DEFAULT_EDGE_SLACK_NANO,
        "dtype": DTYPE_FP32,
    }


def named_tokenizer_hash(value: bytes) -> bytes:
    """The tokenizerHash a task is posted with: 32 bytes, never zero. Miners and validators refuse a
    task naming no tokenizer (PROTOCOL.md §5), so posting one would only lock the reward."""
    if len(value) != 32 or value == bytes(32):
        raise RoleError(
            f"Refusing to post a task without its tokenizer hash (got 0x{value.hex() or '(empty)'}): "
            "miners and validators do not take a task whose tokenizerHash is zero (PROTOCOL.md §5)."
        )
    return value


def post_is_due(settings: Any, last_posted_at: int | None, now: float) -> bool:
    """--interval: at least `interval` seconds from posting one task to posting the next."""
    return settings.interval <= 0 or last_posted_at is None or now >= last_posted_at + settings.interval


class Proposer:
    def __init__(self, ctx: NodeContext) -> None:
        from node.tasks.view import env_names
        from verifier.models import model_hash
        from verifier.tokenizer import tokenizer_hash

        self.ctx = ctx
        s = ctx.settings
        if s.env not in env_names():
            raise RoleError(f"Unknown environment {s.env!r}; known environments: {', '.join(env_names())}.")
        model, tokenizer = load_model_spec(s.model)
        self.model_hash = model_hash(model)
        # posted with every task (TaskParams.tokenizerHash)
        self.tokenizer_hash = named_tokenizer_hash(tokenizer_hash(tokenizer))
        del model
        self.ready_miners: set[str] = set()

    def on_event(self, ev: Any) -> None:
        """Count miners that are staked and reachable (peer registered): the swarm is up."""
        if ev.name == "PeerRegistered" and self.ctx.chain.stakes.is_staked(ev.args["who"], 0):
            self.ready_miners.add(ev.args["who"])

    def mine(self, task: Any) -> bool:
        return task.proposer == self.ctx.address

    def own_tasks(self) -> list[int]:
        return sorted(self.ctx.store.tasks_in_state(Role.PROPOSER, list(ProposerState)))

    def posted_count(self) -> int:
        """Own tasks on chain, plus a post journaled but not yet seen in events (after a crash)."""
        count = len(self.own_tasks())
        while self.ctx.store.tx_by_intent(f"posting task #{count + 1}") is not None and count < 10_000:
            row = self.ctx.store.tx_by_intent(f"posting task #{count + 1}")
            if row.status in ("REVERTED", "DROPPED"):
                break
            count += 1
        return count

    def next_difficulty(self) -> int:
        """The curriculum: adapt the last task's difficulty to its measured success rate."""
        s = self.ctx.settings
        own = self.own_tasks()
        if not own:
            return s.difficulty
        last = task_view(self.ctx, own[-1])
        rate = self.success_rate(own[-1])
        if rate is None:
            return last.params.difficulty
        low, high = s.success_band
        if rate < low:
            return max(1, last.params.difficulty - 1)
        if rate > high:
            return min(s.max_difficulty, last.params.difficulty + 1)
        return last.params.difficulty

    def success_rate(self, task_id: int) -> float | None:
        outcomes = [
            o for o in self.ctx.store.outcomes() if o.task_id == task_id and o.role == Role.MINER.value
        ]
        scores = [o.score or 0 for o in outcomes if o.outcome == Outcome.PASSED.name]
        return sum(scores) / len(scores) / 1e6 if scores else None

    def post(self) -> bool:
        s = self.ctx.settings
        posted = self.posted_count()
        if s.tasks and posted >= s.tasks:
            return False
        pending = self.ctx.store.tasks_in_state(Role.PROPOSER, [ProposerState.POSTED])
        if pending or posted > len(self.own_tasks()):
            return False  # one task at a time: the next is posted once this one is settled
        if posted == 0 and len(self.ready_miners) < s.min_miners:
            return False  # nobody could join yet
        own = self.own_tasks()
        last_posted_at = int(self.ctx.store.get_task(own[-1]).params["posted_at"]) if own else None
        if not post_is_due(s, last_posted_at, time.time()):
            return False
        difficulty = self.next_difficulty()
        board, token = self.ctx.chain.board, self.ctx.chain.token
        balance = token.balance_of(self.ctx.address)
        if balance < s.reward:
            raise RoleError(
                f"{self.ctx.address} holds {balance} RPT base units, less than the reward {s.reward} to escrow; "
                "fund the proposer account first."
            )
        token.ensure_allowance(board.address, s.reward)
        lag = board.beacon_lag()
        if s.commit_window <= lag:
            # The seed round is published BEACON_LAG after the join deadline: no miner could commit.
            raise RoleError(
                f"commit_window {s.commit_window} s leaves no time after the seed beacon, which comes "
                f"{lag} s (TaskBoard.BEACON_LAG) after the join deadline; set it well above {lag}."
            )
        # Deadlines from the moment of posting (after the approval), so miners get the whole join window.
        now = int(time.time())
        join = now + s.join_window
        commit = join + s.commit_window
        # The chain refuses a verdict window that ends before the challenge round plus its minimum audit time.
        verdict = max(commit + s.verdict_window, board.earliest_verdict_deadline(commit))
        # ... and a reveal window below one block slot (TaskBoard.MIN_REVEAL_WINDOW).
        verify = verdict + max(s.reveal_window, board.min_reveal_window())
        params = TaskParams(
            env_id=env_id(s.env),
            difficulty=difficulty,
            num_problems=s.num_problems,
            rollouts_per_problem=s.rollouts_per_problem,
            max_tokens=s.max_tokens,
            temperature_milli=s.temperature_milli,
            base_model_hash=self.model_hash,
            reward=s.reward,
            join_deadline=join,
            commit_deadline=commit,
            verdict_deadline=verdict,
            verify_deadline=verify,
            **audit_fields(s),
            tokenizer_hash=named_tokenizer_hash(self.tokenizer_hash),
        )
        intent = f"posting task #{posted + 1}"
        receipt = board.send("postTask", params.as_tuple(), description=intent)
        ids = [int(e.args["taskId"]) for e in board.events_in(receipt, "TaskPosted")]
        event(
            log,
            f"posted task {ids[0] if ids else '?'} with a reward of {format_rpt(s.reward)}",
            task=ids[0] if ids else None,
            difficulty=difficulty,
            reward=format_rpt(s.reward),
            n=posted + 1,
        )
        sync_tasks(self.ctx, on_event=self.on_event, track=self.mine)
        return True

    def settle(self, task_id: int) -> bool:
        store = self.ctx.store
        state = store.task_state(task_id, Role.PROPOSER)
        tv = task_view(self.ctx, task_id)
        settlement = self.ctx.chain.settlement
        if state == ProposerState.POSTED:
            if chain_now(self.ctx) <= tv.params.verify_deadline + FINALIZE_DELAY["proposer"]:
                return False
            ts = settlement.task_settlement(task_id)
            if not ts.finalized:
                if not record_beacon_on_chain(self.ctx, tv.challenge_round):
                    return False
                try:
                    settlement.finalize(task_id)
                except ChainError as exc:
                    if not settlement.task_settlement(task_id).finalized:
                        raise
                    log.info("task %d was finalized by someone else first (%s)", task_id, exc)
                ts = settlement.task_settlement(task_id)
            with store.transaction() as s:
                for miner in settlement.miners(task_id):
                    ms = settlement.miner_state(task_id, miner)
                    store.record_outcome(
                        task_id,
                        miner,
                        Role.MINER,
                        Outcome(ms.outcome).name,
                        score=ms.score,
                        paid=ms.paid,
                        slashed=ms.slashed,
                        session=s,
                    )
                store.record_outcome(
                    task_id, self.ctx.address, Role.PROPOSER, "REFUND", paid=ts.refund, session=s
                )
                store.transition(task_id, Role.PROPOSER, ProposerState.FINALIZED, session=s)
            event(
                log,
                f"task {task_id} finalized, {format_rpt(ts.refund)} refunded",
                task=task_id,
                refund=format_rpt(ts.refund),
                success=self.success_rate(task_id),
            )
            return True
        if state == ProposerState.FINALIZED:
            if settlement.claimable(self.ctx.address) > 0:
                settlement.send("claim", description=f"claim after task {task_id}")
            store.transition(task_id, Role.PROPOSER, ProposerState.CLAIMED)
            return True
        return False

    def step(self) -> bool:
        busy = sync_tasks(self.ctx, on_event=self.on_event, track=self.mine) > 0
        settling = self.ctx.store.tasks_in_state(
            Role.PROPOSER, [ProposerState.POSTED, ProposerState.FINALIZED]
        )
        busy |= step_tasks(self.ctx, settling, self.settle)
        try:
            busy |= self.post()
        except ChainRevert as exc:
            log.warning("posting a task failed: %s", exc)
        return busy

    def done(self) -> bool:
        s = self.ctx.settings
        if not s.tasks:
            return False
        claimed = self.ctx.store.tasks_in_state(Role.PROPOSER, [ProposerState.CLAIMED])
        return len(claimed) >= s.tasks


def run(config: Any) -> int:
    """`rollproof proposer`: post `tasks` tasks (0: forever) one after another and settle them."""
    settings = settings_from(config, "proposer")
    setup_role_logging(config, settings)
    set_threads(settings.threads)
    ctx = open_context(settings, Role.PROPOSER, account=getattr(config, "account", None))
    try:
        ctx.stop.install()
        proposer = Proposer(ctx)
        start_metrics(ctx)
        event(log, "proposer ready", address=ctx.address, tasks=settings.tasks, env=settings.env)
        return run_loop(ctx, proposer.step, proposer.done)
    finally:
        ctx.close()
