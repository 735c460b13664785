"""The GRPO step the miner role runs between tasks: `grpo_step(miner, groups, task_id, config)`.

`node.roles.learning` collects the task's groups (local rollouts, and swarm rollouts re-scored
by evaluators or locally, never by the sender's claim) and the trainer's configuration, and
passes them here; node/train never reaches back into the roles. The GRPO trainer keeps its AdamW
state on the miner across tasks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from node.train.grpo import Group, GRPOConfig, GRPOTrainer, ScoredCompletion


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


def grpo_step(
    miner: Any,
    raw: Sequence[Sequence[tuple[Sequence[int], Sequence[int], float]]],
    task_id: int,
    config: GRPOConfig,
) -> dict[str, float] | None:
    """One GRPO step of the miner's policy on the task's groups; None when nothing had a signal.

    The trainer (and its AdamW state) lives on `miner` across tasks; a new policy gets a new one.
    """
    from verifier.sampler import pad_token_id

    groups = [g for g in groups_from_triples(raw, task_id) if g.has_signal()]
    if not groups:
        return None
    trainer = getattr(miner, "grpo_trainer", None)
    if trainer is None or trainer.model is not miner.policy:
        trainer = GRPOTrainer(miner.policy, config, pad_id=pad_token_id(miner.tokenizer))
        miner.grpo_trainer = trainer
    trainer.config.temperature = config.temperature
    stats = trainer.step(groups)
    return {
        "loss": stats.loss,
        "groups": float(stats.groups),
        "sequences": float(stats.completions),
        "tokens": float(stats.tokens),
    }
