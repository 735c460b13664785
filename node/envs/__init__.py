"""Verifiable task environments (the `verifier.env.Environment` interface) and their registry.

    env = get_env("basic_arithmetic")
    problems = env.generate(seed, n, difficulty)
    env.messages(problems[0]); env.score(problems[0], completion)

On chain a task names its environment by `env_id(name) = keccak256(utf8(name))`.
"""

from __future__ import annotations

from eth_utils import keccak

from node.envs.reasoning import (
    ARITHMETIC_SHOTS,
    CHAIN_SUM_SHOTS,
    GSM_SHOTS,
    ReasoningGymEnv,
    basic_arithmetic_config,
    chain_sum_config,
    gsm_symbolic_config,
)

_FACTORIES = {
    "basic_arithmetic": lambda: ReasoningGymEnv(
        "basic_arithmetic", "basic_arithmetic", basic_arithmetic_config, ARITHMETIC_SHOTS
    ),
    "chain_sum": lambda: ReasoningGymEnv("chain_sum", "chain_sum", chain_sum_config, CHAIN_SUM_SHOTS),
    "gsm_symbolic": lambda: ReasoningGymEnv("gsm_symbolic", "gsm_symbolic", gsm_symbolic_config, GSM_SHOTS),
}

ENV_NAMES: tuple[str, ...] = tuple(sorted(_FACTORIES))


def env_id(name: str) -> bytes:
    """The 32-byte on-chain id of an environment: keccak256 of its UTF-8 name."""
    return keccak(text=name)


def get_env(name: str) -> ReasoningGymEnv:
    """The environment registered under `name`."""
    factory = _FACTORIES.get(name)
    if factory is None:
        raise ValueError(f"Unknown environment {name!r}; known environments: {', '.join(ENV_NAMES)}.")
    return factory()


def get_env_by_id(identifier: bytes) -> ReasoningGymEnv:
    """The environment whose env_id is `identifier` (as read from a TaskBoard task)."""
    for name in ENV_NAMES:
        if env_id(name) == bytes(identifier):
            return get_env(name)
    raise ValueError(f"No known environment has the id 0x{bytes(identifier).hex()}.")


__all__ = ["ENV_NAMES", "ReasoningGymEnv", "env_id", "get_env", "get_env_by_id"]
