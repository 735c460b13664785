"""The miner's learning step between tasks (SAPO: GRPO on I local + J swarm rollouts).

Rewards of swarm rollouts come from staked evaluators' gossiped scores, or are re-scored here with
the environment; never from the sender's claim. Groups (one problem, G rollouts) with zero
advantage carry no GRPO signal and are dropped; logprobs are recomputed under the local policy.

`node.train` (the learning stack) is used when it provides `sapo_step`; otherwise the small GRPO
step below keeps miners learning with the same inputs.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from typing import Any

log = logging.getLogger("rollproof.learning")

LOCAL_ROLLOUTS = 16  # I
SWARM_ROLLOUTS = 16  # J
LEARNING_RATE = 2e-4
MAX_LEARN_TOKENS = 64


def training_groups(miner: Any, tv: Any) -> list[list[tuple[list[int], list[int], float]]]:
    """Groups of (prompt ids, completion tokens, reward) per (sender, problem): local and swarm."""
    from node.roles.common import decode_rollout, task_randomness
    from verifier.sampler import chat_prompt_ids, task_problems

    store = miner.ctx.store
    seed = task_randomness(miner.ctx, tv.task_id, "seed")
    if seed is None or tv.env_name is None:
        return []
    env = miner.env(tv.env_name)
    problems = task_problems(env, tv.spec(seed))
    prompts = {p.index: chat_prompt_ids(miner.tokenizer, env.messages(p)) for p in problems}
    groups: dict[tuple[str, int], list[tuple[list[int], list[int], float]]] = defaultdict(list)
    for row in store.own_rollouts(tv.task_id)[:LOCAL_ROLLOUTS]:
        groups[("self", row.problem)].append(
            (prompts[row.problem], list(row.tokens), row.claimed_reward / 1e6)
        )
    swarm = store.received_rollouts(tv.task_id)
    random.Random(tv.task_id).shuffle(swarm)
    for row in swarm[:SWARM_ROLLOUTS]:
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
    """One GRPO step on the task's groups; returns stats, or None when no group had signal."""
    try:
        from node import train as train_mod  # type: ignore[attr-defined]

        if hasattr(train_mod, "sapo_step"):
            return train_mod.sapo_step(miner, tv)
    except ImportError:
        pass
    import torch

    groups = training_groups(miner, tv)
    if not groups:
        log.info("task %d: no group with reward variance; no training step", tv.task_id)
        return None
    policy = miner.policy
    params = [p for p in policy.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=LEARNING_RATE)
    policy.train()
    optimizer.zero_grad()
    total_loss, n_seqs = 0.0, 0
    temperature = tv.temperature_milli / 1000.0
    for group in groups:
        rewards = torch.tensor([r for _, _, r in group])
        adv = (rewards - rewards.mean()) / (rewards.std() + 1e-6)
        for (prompt, tokens, _), a in zip(group, adv.tolist(), strict=True):
            tokens = tokens[:MAX_LEARN_TOKENS]
            if not tokens:
                continue
            ids = torch.tensor([prompt + tokens])
            logits = policy(input_ids=ids).logits[0, len(prompt) - 1 : -1].float() / temperature
            logp = torch.log_softmax(logits, -1).gather(-1, torch.tensor(tokens).unsqueeze(-1)).squeeze(-1)
            loss = -a * logp.mean()
            loss.backward()
            total_loss += float(loss)
            n_seqs += 1
    for p in params:
        if p.grad is not None:
            p.grad /= max(1, n_seqs)
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()
    policy.eval()
    return {"loss": total_loss / max(1, n_seqs), "groups": float(len(groups)), "sequences": float(n_seqs)}
