"""Helpers for the verifier tests (imported by conftest and tests; a unique module name, since
every test folder has its own conftest): a tiny random-init model with the real SmolLM2 tokenizer and a
small deterministic arithmetic environment (the verifier must not depend on node/)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import re

import torch

from verifier.env import Problem
from verifier.prf import H
from verifier.rollout import TaskSpec

torch.set_num_threads(1)

MINER = "0x" + "ab" * 20
OTHER_MINER = "0x" + "cd" * 20


class ArithmeticEnv:
    """a + b problems derived from the seed; reward 1 if the last integer in the text is the sum."""

    name = "toy_arithmetic"

    def generate(self, seed: bytes, n: int, difficulty: int) -> list[Problem]:
        out = []
        for i in range(n):
            h = H("toy", seed, i)
            a, b = h[0] % (10**difficulty), h[1] % (10**difficulty)
            out.append(Problem(i, f"What is {a} + {b}?", str(a + b)))
        return out

    def messages(self, problem: Problem) -> list[dict[str, str]]:
        return [{"role": "user", "content": problem.question}]

    def score(self, problem: Problem, completion: str) -> float:
        numbers = re.findall(r"-?\d+", completion)
        return 1.0 if numbers and numbers[-1] == problem.answer else 0.0


class AlwaysHalfEnv(ArithmeticEnv):
    """Scores every completion 0.5, so reward checks see a non-trivial value."""

    def score(self, problem: Problem, completion: str) -> float:
        return 0.5


def make_task(
    task_id: int = 7, max_tokens: int = 24, P: int = 4, G: int = 4, temperature_milli: int = 700
) -> TaskSpec:
    return TaskSpec(
        task_id=task_id,
        difficulty=1,
        num_problems=P,
        rollouts_per_problem=G,
        max_tokens=max_tokens,
        temperature_milli=temperature_milli,
        seed_randomness=H("test-seed", task_id),
    )
