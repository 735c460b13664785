"""SAPO: mixing a miner's own rollouts with the swarm's for one GRPO step.

A "rollout" in SAPO's counting is one problem with its G completions (a `Group`). Per step a
miner trains on I local groups and J external groups:

1. Every rollout, local or external, is re-scored here: the completion text is decoded from
   the committed tokens and scored by the local environment against the problem regenerated
   from the task. The sender's claimed reward, its decoded text and its prompt ids are never
   used (the prompt is rebuilt from the problem), and its logprobs are recomputed by the
   trainer under the local policy.
2. Groups whose completions all got the same reward (zero advantage) are dropped.
3. Up to I local and J external groups are drawn from what is left.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from node.train.grpo import Group, ScoredCompletion
from verifier.env import Problem
from verifier.rollout import Rollout
from verifier.sampler import chat_prompt_ids

MAX_COMPLETION_TOKENS = 4096


@dataclass
class RescoreStats:
    accepted: int = 0
    rejected: int = 0  # unknown problem, malformed tokens, or the miner itself as "external"


def _valid_tokens(tokens: Sequence[int], vocab_size: int, max_tokens: int) -> bool:
    return 0 < len(tokens) <= max_tokens and all(isinstance(t, int) and 0 <= t < vocab_size for t in tokens)


def score_completion(env, problem: Problem, text: str) -> ScoredCompletion | None:
    """Reward parts from the environment (`score_details` when it has one)."""
    details = getattr(env, "score_details", None)
    if details is not None:
        parts = details(problem, text)
        return ScoredCompletion((), float(parts["reward"]), float(parts["correct"]), float(parts["format"]))
    return ScoredCompletion((), float(env.score(problem, text)))


def rescore_rollouts(
    env,
    tokenizer,
    problems: Mapping[tuple[int, int], Problem],
    rollouts: Sequence[Rollout],
    local: bool,
    exclude_miner: str | None = None,
    max_tokens: int = MAX_COMPLETION_TOKENS,
    stats: RescoreStats | None = None,
) -> list[Group]:
    """Groups keyed (task_id, p, miner), rewards computed here from the tokens.

    `problems` maps (task_id, p) to the problem regenerated from the task's public seed; a
    rollout for a problem not in it is dropped, as is a rollout with malformed tokens."""
    stats = stats if stats is not None else RescoreStats()
    vocab = len(tokenizer)
    exclude = exclude_miner.lower() if exclude_miner else None
    prompts: dict[tuple[int, int], tuple[int, ...]] = {}
    buckets: dict[tuple[int, int, str], list[ScoredCompletion]] = {}
    for rollout in rollouts:
        key = (rollout.task_id, rollout.p)
        problem = problems.get(key)
        if problem is None or (exclude is not None and rollout.miner == exclude):
            stats.rejected += 1
            continue
        if not _valid_tokens(rollout.tokens, vocab, max_tokens):
            stats.rejected += 1
            continue
        text = tokenizer.decode(list(rollout.tokens), skip_special_tokens=True)
        scored = score_completion(env, problem, text)
        if key not in prompts:
            prompts[key] = tuple(chat_prompt_ids(tokenizer, env.messages(problem)))
        buckets.setdefault((rollout.task_id, rollout.p, rollout.miner), []).append(
            ScoredCompletion(tuple(rollout.tokens), scored.reward, scored.correct, scored.formatted)
        )
        stats.accepted += 1
    return [
        Group(key=k, prompt_ids=prompts[(k[0], k[1])], completions=tuple(v), local=local)
        for k, v in sorted(buckets.items())
    ]


def drop_zero_advantage(groups: Sequence[Group]) -> list[Group]:
    """The groups that carry a learning signal (not every completion rewarded the same)."""
    return [g for g in groups if g.has_signal()]


def sapo_mix(
    local: Sequence[Group],
    external: Sequence[Group],
    num_local: int,
    num_external: int,
    rng: random.Random,
) -> list[Group]:
    """Up to I local and J external groups with a signal, drawn uniformly with `rng`."""
    local_ok = drop_zero_advantage(local)
    external_ok = drop_zero_advantage(external)
    chosen = rng.sample(local_ok, min(num_local, len(local_ok)))
    chosen += rng.sample(external_ok, min(num_external, len(external_ok)))
    return chosen
