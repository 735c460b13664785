"""The hook the miner role calls between tasks: `sapo_step(miner, tv)`.

`node.roles.learning` collects the task's groups (local rollouts, and swarm rollouts re-scored
by evaluators or locally, never by the sender's claim) and calls this when it exists; here they
go through the GRPO trainer, which keeps its AdamW state on the miner across tasks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from node.train.grpo import Group, GRPOTrainer, ScoredCompletion


def groups_from_triples(
    raw: Sequence[Sequence[tuple[Sequence[int], Sequence[int], float]]], task_id: int
) -> list[Group]:
    """Groups from lists of (prompt ids, completion tokens, reward) sharing one prompt each."""
    groups = []
    for i, triples in enumerate(raw):
        triples = [t for t in triples if len(t[1]) > 0]
        if len(triples) < 2 or len({tuple(t[0]) for t in triples}) != 1:
            continue  # a GRPO group needs one prompt and at least two completions
        completions = tuple(ScoredCompletion(tuple(int(x) for x in t[1]), float(t[2])) for t in triples)
        groups.append(
            Group(key=(task_id, i), prompt_ids=tuple(int(x) for x in triples[0][0]), completions=completions)
        )
    return groups


def sapo_step(miner: Any, tv: Any) -> dict[str, float] | None:
    """One GRPO step of the miner's policy on the task's groups; None when nothing had a signal."""
    from node.roles.learning import learner_config, training_groups
    from verifier.sampler import pad_token_id

    groups = [g for g in groups_from_triples(training_groups(miner, tv), tv.task_id) if g.has_signal()]
    if not groups:
        return None
    trainer = getattr(miner, "grpo_trainer", None)
    if trainer is None or trainer.model is not miner.policy:
        config = learner_config(miner.ctx.settings, tv.temperature_milli / 1000.0)
        trainer = GRPOTrainer(miner.policy, config, pad_id=pad_token_id(miner.tokenizer))
        miner.grpo_trainer = trainer
    trainer.config.temperature = tv.temperature_milli / 1000.0
    stats = trainer.step(groups)
    return {
        "loss": stats.loss,
        "groups": float(stats.groups),
        "sequences": float(stats.completions),
        "tokens": float(stats.tokens),
    }
