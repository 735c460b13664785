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


def other_tokenizers(tok) -> dict:
    """Tokenizers a misconfigured (or cheating) node could load instead of `tok`, each differing in
    one thing the tokenizer hash covers (PROTOCOL.md §5): an added token, the chat template, how text
    is split before BPE (pre-tokenizer), how it is normalised first (normalizer), a BPE option."""
    import copy

    from tokenizers import normalizers, pre_tokenizers

    extra = copy.deepcopy(tok)
    extra.add_tokens(["<rollproof-extra>"])
    template = copy.deepcopy(tok)
    template.chat_template = tok.chat_template.replace("<|im_start|>", "<|im_start|> ", 1)
    # Same vocabulary, merges, special tokens and template: only the text-splitting settings differ.
    split = copy.deepcopy(tok)
    split.backend_tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
    normalised = copy.deepcopy(tok)
    normalised.backend_tokenizer.normalizer = normalizers.Lowercase()
    option = copy.deepcopy(tok)
    option.backend_tokenizer.model.dropout = 0.1  # BPE-dropout: random merges, random ids
    return {
        "one extra added token": extra,
        "a changed chat template": template,
        "a changed pre-tokenizer": split,
        "a changed normalizer": normalised,
        "a changed BPE option": option,
    }
