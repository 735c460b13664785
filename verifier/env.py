"""The environment interface the verifier depends on.

The verifier checks prompts and rewards without importing `node/`: any object with this shape
(reasoning-gym wrappers in `node.envs`, or a test environment) can be passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Problem:
    """One generated problem. `index` is its position p in the task's problem list."""

    index: int
    question: str
    answer: str
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)


class Environment(Protocol):
    """A verifiable task family. Deterministic: the same seed gives the same problems everywhere."""

    name: str

    def generate(self, seed: bytes, n: int, difficulty: int) -> list[Problem]:
        """The task's problems: `generate(H("problems", seedRandomness, taskId), P, difficulty)`."""
        ...

    def messages(self, problem: Problem) -> list[dict[str, str]]:
        """Chat messages for the problem; the prompt tokens are the tokenizer's chat template of these."""
        ...

    def score(self, problem: Problem, completion: str) -> float:
        """Reward in [0, 1]. Never raises, whatever the completion holds."""
        ...
