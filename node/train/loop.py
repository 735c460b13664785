"""One miner's learn cycle: generate with the verifiable prover loop, re-score, mix, step.

Several miners can share one base model: each has its own named LoRA adapter on the same
peft model (switched with `set_adapter`), its own optimizer, and its own metrics.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from node.train.grpo import Group, GRPOConfig, GRPOTrainer
from node.train.metrics import RoundMetrics, round_metrics
from node.train.sapo import RescoreStats, rescore_rollouts, sapo_mix
from verifier.env import Problem
from verifier.models import adapter_hash
from verifier.rollout import Rollout, TaskSpec
from verifier.sampler import pad_token_id, prove_rollouts, task_problems


@dataclass
class SapoConfig:
    """I local + J external groups per step; G completions per problem."""

    num_local: int = 4  # I: problems the miner generates for, and local groups it trains on
    num_external: int = 4  # J: external groups drawn from the swarm
    group_size: int = 4  # G
    max_tokens: int = 24
    temperature_milli: int = 700
    difficulty: int = 0
    batch_size: int = 16  # rows per decode batch in the prover loop
    grpo: GRPOConfig = field(default_factory=GRPOConfig)

    def __post_init__(self) -> None:
        self.grpo.temperature = self.temperature_milli / 1000.0


def generate_rollouts(model, tokenizer, env, task: TaskSpec, miner: str, batch_size: int) -> list[Rollout]:
    """The miner's rollouts for a task, from the verifiable prover loop (verifier.sampler)."""
    return prove_rollouts(model, tokenizer, env, task, miner, batch_size=batch_size)


class MinerLearner:
    """One miner: its adapter on a shared peft model, its trainer, and its round metrics."""

    def __init__(
        self, model, tokenizer, env, address: str, config: SapoConfig, adapter_name: str, seed: int = 0
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.env = env
        self.address = address.lower()
        self.config = config
        self.adapter_name = adapter_name
        self.trainer = GRPOTrainer(model, config.grpo, adapter_name, pad_id=pad_token_id(tokenizer))
        self.rng = random.Random(seed)
        self.history: list[RoundMetrics] = []
        self.rescore = RescoreStats()

    def task_for(self, task_id: int, seed_randomness: bytes) -> TaskSpec:
        return TaskSpec(
            task_id=task_id,
            difficulty=self.config.difficulty,
            num_problems=self.config.num_local,
            rollouts_per_problem=self.config.group_size,
            max_tokens=self.config.max_tokens,
            temperature_milli=self.config.temperature_milli,
            seed_randomness=seed_randomness,
        )

    def generate(self, task: TaskSpec) -> tuple[list[Rollout], list[Problem]]:
        self.model.set_adapter(self.adapter_name)
        self.model.eval()
        rollouts = generate_rollouts(
            self.model, self.tokenizer, self.env, task, self.address, self.config.batch_size
        )
        return rollouts, task_problems(self.env, task)

    def learn(
        self,
        round_index: int,
        problems: dict[tuple[int, int], Problem],
        own: Sequence[Rollout],
        swarm: Sequence[Rollout],
    ) -> RoundMetrics:
        """Re-score own and swarm rollouts, mix I + J groups, take one GRPO step."""
        local_groups = rescore_rollouts(
            self.env, self.tokenizer, problems, own, local=True, stats=self.rescore
        )
        external_groups: list[Group] = []
        if self.config.num_external > 0 and swarm:
            external_groups = rescore_rollouts(
                self.env,
                self.tokenizer,
                problems,
                swarm,
                local=False,
                exclude_miner=self.address,
                stats=self.rescore,
            )
        batch = sapo_mix(
            local_groups, external_groups, self.config.num_local, self.config.num_external, self.rng
        )
        stats = self.trainer.step(batch)
        metrics = round_metrics(round_index, local_groups, stats.loss, stats.groups)
        self.history.append(metrics)
        return metrics

    def adapter_hash(self) -> bytes:
        self.model.set_adapter(self.adapter_name)
        return adapter_hash(self.model)
