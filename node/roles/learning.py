"""The miner's learning step between tasks (SAPO: GRPO on I local + J swarm rollouts).

Rewards of swarm rollouts come from staked evaluators' gossiped scores, or are re-scored here with
the environment; never from the sender's claim. Groups (one problem, G rollouts) with zero
advantage carry no GRPO signal and are dropped.

I (`--local-rollouts`), J (`--swarm-rollouts`) and the learning rate (`--learning-rate`) come from
the miner's settings, whose defaults are node.config's; the GRPO step itself is `node.train`.
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any, TypeVar

T = TypeVar("T")


def pick_training_rollouts(
    own: list[T], swarm: list[T], settings: Any, task_id: int
) -> tuple[list[T], list[T]]:
    """The first I own rollouts and J swarm rollouts in a task-seeded random order."""
    swarm = list(swarm)
    random.Random(task_id).shuffle(swarm)
    return own[: settings.local_rollouts], swarm[: settings.swarm_rollouts]


def learner_config(settings: Any, temperature: float) -> Any:
    """The GRPO trainer's configuration: the miner's learning rate, the task's sampling temperature."""
    from node.train.grpo import GRPOConfig

    return GRPOConfig(learning_rate=settings.learning_rate, temperature=temperature)


def training_groups(miner: Any, tv: Any) -> list[list[tuple[list[int], list[int], float]]]:
    """Groups of (prompt ids, completion tokens, reward) per (sender, problem): local and swarm."""
    from node.runtime.network import decode_rollout
    from node.tasks.beacons import task_randomness
    from verifier.sampler import chat_prompt_ids, task_problems

    store = miner.ctx.store
    seed = task_randomness(miner.ctx, tv.task_id, "seed")
    if seed is None or tv.env_name is None:
        return []
    env = miner.env(tv.env_name)
    problems = task_problems(env, tv.spec(seed))
    prompts = {p.index: chat_prompt_ids(miner.tokenizer, env.messages(p)) for p in problems}
    groups: dict[tuple[str, int], list[tuple[list[int], list[int], float]]] = defaultdict(list)
    own, swarm = pick_training_rollouts(
        store.own_rollouts(tv.task_id), store.received_rollouts(tv.task_id), miner.ctx.settings, tv.task_id
    )
    for row in own:
        groups[("self", row.problem)].append(
            (prompts[row.problem], list(row.tokens), row.claimed_reward / 1e6)
        )
    for row in swarm:
        msg = decode_rollout(row.payload)
        if msg.p >= len(problems):
            continue
        if row.verified_reward is not None:
            reward = row.verified_reward / 1e6
        else:
            text = miner.tokenizer.decode(list(msg.tokens), skip_special_tokens=True)
            reward = env.score(problems[msg.p], text)
        groups[(row.miner, msg.p)].append((prompts[msg.p], list(msg.tokens), reward))
    return [g for g in groups.values() if len(g) > 1 and len({r for _, _, r in g}) > 1]


def sapo_step(miner: Any, tv: Any) -> dict[str, float] | None:
    """One GRPO step on the task's groups (`node.train.grpo_step`); None when no group had signal."""
    from node.train import grpo_step

    config = learner_config(miner.ctx.settings, tv.params.temperature_milli / 1000.0)
    return grpo_step(miner, training_groups(miner, tv), tv.task_id, config)
