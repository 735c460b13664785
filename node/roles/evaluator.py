"""The evaluator role: re-score gossiped rollouts with the environment's verifier and gossip signed
scores, so no trainer takes a sender's self-reported reward.

State machine (EvaluatorState): SEEN (scoring every rollout that arrives once the seed beacon
fixes the problems) -> SCORED (commit deadline passed, every received rollout scored) -> DONE
(verify deadline passed). Scores are stored with the received rollout (`verified_reward`), so a
restarted evaluator does not score or gossip the same rollout twice.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from chain.clients import Role as ChainRole
from node.roles.startup import run_staked_role
from node.runtime.context import NodeContext
from node.runtime.network import (
    decode_rollout,
    join_task_topics,
    keep_gossiped_rollout,
    leave_task,
)
from node.runtime.observe import event
from node.store import EvaluatorState, Role
from node.tasks.beacons import task_randomness
from node.tasks.view import sync_tasks, task_view

log = logging.getLogger("rollproof.evaluator")


class Evaluator:
    def __init__(self, ctx: NodeContext) -> None:
        from verifier.models import load_tokenizer

        self.ctx = ctx
        # The rollouts carry tokens; the evaluator needs only the tokenizer to read them.
        spec = ctx.settings.model.split(":")[0]
        self.tokenizer = load_tokenizer(spec)
        self.subscribed: set[int] = set()
        self.problems: dict[int, list[Any]] = {}
        self.envs: dict[str, Any] = {}

    def subscribe(self, task_id: int) -> None:
        join_task_topics(self.ctx, self.subscribed, task_id, self.on_rollout)

    def on_rollout(self, received: Any) -> None:
        keep_gossiped_rollout(self.ctx, received, with_leaf=False)

    def task_problems(self, task_id: int) -> list[Any] | None:
        from node.tasks.view import get_env
        from verifier.sampler import task_problems

        if task_id not in self.problems:
            tv = task_view(self.ctx, task_id)
            seed = task_randomness(self.ctx, task_id, "seed")
            if seed is None or tv.env_name is None:
                return None
            env = self.envs.setdefault(tv.env_name, get_env(tv.env_name))
            self.problems[task_id] = task_problems(env, tv.spec(seed))
        return self.problems[task_id]

    def score_pending(self, task_id: int) -> int:
        """Score and gossip every received rollout of the task that has no verified reward yet."""
        from node.p2p import EvaluationMsg, evaluations_topic
        from verifier.rollout import reward_to_micro

        problems = self.task_problems(task_id)
        if problems is None:
            return 0
        tv = task_view(self.ctx, task_id)
        env = self.envs[tv.env_name or ""]
        scored = 0
        for row in self.ctx.store.received_rollouts(task_id):
            if row.verified_reward is not None:
                continue
            msg = decode_rollout(row.payload)
            if msg.p >= len(problems):
                continue
            text = self.tokenizer.decode(list(msg.tokens), skip_special_tokens=True)
            score = reward_to_micro(env.score(problems[msg.p], text))
            self.ctx.p2p.publish(
                evaluations_topic(task_id),
                EvaluationMsg(task_id, msg.miner, msg.p, msg.g, score, self.ctx.address),
            )
            self.ctx.store.set_received_reward(task_id, row.miner, row.problem, row.index, score)
            scored += 1
        if scored:
            event(log, "scored rollouts", task=task_id, scored=scored)
        return scored

    def step(self) -> bool:
        busy = sync_tasks(self.ctx) > 0
        store = self.ctx.store
        for task_id in store.tasks_in_state(Role.EVALUATOR, [EvaluatorState.SEEN, EvaluatorState.SCORED]):
            self.subscribe(task_id)
            tv = task_view(self.ctx, task_id)
            state = store.task_state(task_id, Role.EVALUATOR)
            now = time.time()
            if state == EvaluatorState.SEEN:
                busy |= self.score_pending(task_id) > 0
                if now > tv.params.commit_deadline + 5:
                    self.score_pending(task_id)
                    store.transition(task_id, Role.EVALUATOR, EvaluatorState.SCORED)
                    busy = True
            elif now > tv.params.verify_deadline:
                store.transition(task_id, Role.EVALUATOR, EvaluatorState.DONE)
                leave_task(self.ctx, task_id)
                self.problems.pop(task_id, None)
                busy = True
        return busy


def run(config: Any) -> int:
    """`rollproof evaluator`: re-score gossiped rollouts until stopped."""
    return run_staked_role(config, "evaluator", Role.EVALUATOR, ChainRole.EVALUATOR, Evaluator)
