"""The learning step of a miner: GRPO on LoRA adapters with SAPO mixing (DESIGN.md step 8).

groups = rescore_rollouts(env, tokenizer, problems, my_rollouts, local=True)
swarm = rescore_rollouts(env, tokenizer, problems, gossiped, local=False, exclude_miner=me)
stats = trainer.step(sapo_mix(groups, swarm, I, J, rng))
new_hash = adapter_hash(model)   # join the next task with this adapter
"""

from node.train.grpo import (
    Group,
    GRPOConfig,
    GRPOTrainer,
    ScoredCompletion,
    StepStats,
    adapter_parameters,
    completion_logprobs,
    group_advantages,
    rows_logprobs,
)
from node.train.loop import MinerLearner, SapoConfig
from node.train.metrics import MetricsWriter, RoundMetrics, plot_curves, round_metrics
from node.train.node_step import groups_from_triples, grpo_step
from node.train.sapo import RescoreStats, drop_zero_advantage, rescore_rollouts, sapo_mix

__all__ = [
    "GRPOConfig",
    "GRPOTrainer",
    "Group",
    "MetricsWriter",
    "MinerLearner",
    "RescoreStats",
    "RoundMetrics",
    "SapoConfig",
    "ScoredCompletion",
    "StepStats",
    "adapter_parameters",
    "completion_logprobs",
    "drop_zero_advantage",
    "group_advantages",
    "groups_from_triples",
    "grpo_step",
    "plot_curves",
    "rescore_rollouts",
    "round_metrics",
    "rows_logprobs",
    "sapo_mix",
]
