"""reasoning-gym task families behind the `verifier.env.Environment` interface.

Determinism: `generate(seed, n, difficulty)` maps the seed bytes to one reasoning-gym integer
seed (`rg_seed`), builds the dataset with the config for `difficulty`, and takes items
0..n-1. reasoning-gym seeds item i with `random.Random(rg_seed + i)`, so the same seed gives
the same problems on every machine and Python version.

Reward (documented in docs/LEARNING.md, the validator recomputes it):

    reward = CORRECTNESS_WEIGHT * correct + FORMAT_WEIGHT * formatted      (in [0, 1])

- `formatted` = 1 when the completion holds exactly one complete `<answer>...</answer>`
  block whose stripped content is non-empty and at most MAX_ANSWER_CHARS long, else 0.
- `correct` = 1 when the first complete block's content, with commas and surrounding
  whitespace removed and one trailing period dropped, is a plain decimal number equal to the
  problem's answer (so "+07", "7.0" and "1,000" count), else 0.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from verifier.env import Problem

ANSWER_OPEN = "<answer>"
ANSWER_CLOSE = "</answer>"
MAX_ANSWER_CHARS = 64
MAX_SCORED_CHARS = 262_144  # longer completions are scored on their first 256 KiB
MAX_PROBLEMS = 10_000
MAX_DIFFICULTY = 9
CORRECTNESS_WEIGHT = 0.8
FORMAT_WEIGHT = 0.2

# Short on purpose: on a CPU the prompt prefill dominates rollout cost (G prefills per
# problem), and two worked examples are enough for SmolLM2-135M to use the tags.
SYSTEM_PROMPT = "Solve the problem. Put only the final number inside <answer></answer> tags."

_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")  # ASCII digits only, like the oracle answers


def rg_seed(seed: bytes) -> int:
    """The reasoning-gym integer seed for the protocol's seed bytes (first 8 bytes of a
    domain-separated SHA-256, so any byte string maps to a well-spread 64-bit integer)."""
    return int.from_bytes(hashlib.sha256(b"rollproof.env.seed.v1" + bytes(seed)).digest()[:8], "big")


def answer_blocks(text: str) -> list[str]:
    """Contents of the complete <answer>...</answer> blocks, in order. Linear time: a scan
    with str.find, no backtracking regex, so adversarial text cannot stall the scorer."""
    blocks: list[str] = []
    start = 0
    while True:
        open_at = text.find(ANSWER_OPEN, start)
        if open_at < 0:
            return blocks
        close_at = text.find(ANSWER_CLOSE, open_at + len(ANSWER_OPEN))
        if close_at < 0:
            return blocks
        blocks.append(text[open_at + len(ANSWER_OPEN) : close_at])
        start = close_at + len(ANSWER_CLOSE)


def format_reward(text: str) -> float:
    """1.0 for exactly one well-formed answer block with a short non-empty content, else 0.0."""
    blocks = answer_blocks(text)
    if len(blocks) != 1:
        return 0.0
    content = blocks[0].strip()
    return 1.0 if 0 < len(content) <= MAX_ANSWER_CHARS else 0.0


def parse_number(content: str) -> Decimal | None:
    """A plain decimal number from an answer's content, or None."""
    cleaned = content.strip().replace(",", "")
    if cleaned.endswith("."):
        cleaned = cleaned[:-1]
    if len(cleaned) > MAX_ANSWER_CHARS or not _NUMBER.fullmatch(cleaned):
        return None
    try:
        return Decimal(cleaned)
    except InvalidOperation:
        return None


def correctness(text: str, answer: str) -> float:
    """1.0 when the first answer block holds the problem's answer as a number, else 0.0."""
    blocks = answer_blocks(text)
    if not blocks:
        return 0.0
    got, want = parse_number(blocks[0]), parse_number(answer)
    return 1.0 if got is not None and want is not None and got == want else 0.0


def score_parts(problem: Problem, completion: Any) -> tuple[float, float]:
    """(correct, formatted) for a completion; (0, 0) for anything that is not text."""
    if not isinstance(completion, str) or not isinstance(problem.answer, str):
        return 0.0, 0.0
    text = completion[:MAX_SCORED_CHARS]
    return correctness(text, problem.answer), format_reward(text)


def combined_reward(correct: float, formatted: float) -> float:
    return CORRECTNESS_WEIGHT * correct + FORMAT_WEIGHT * formatted


@dataclass(frozen=True)
class FewShot:
    question: str
    reply: str


@dataclass
class ReasoningGymEnv:
    """One reasoning-gym dataset as a protocol Environment.

    `config_for(difficulty)` gives the reasoning-gym dataset config for a difficulty level
    0..MAX_DIFFICULTY (0 is the easiest); `examples` are the few-shot turns of the prompt.
    """

    name: str
    dataset: str
    config_for: Callable[[int], dict[str, Any]]
    examples: tuple[FewShot, ...]

    def generate(self, seed: bytes, n: int, difficulty: int) -> list[Problem]:
        import reasoning_gym

        if not isinstance(seed, bytes | bytearray):
            raise ValueError("The problem seed must be bytes.")
        if not isinstance(n, int) or not 1 <= n <= MAX_PROBLEMS:
            raise ValueError(f"The number of problems must be an integer from 1 to {MAX_PROBLEMS}.")
        if not isinstance(difficulty, int) or not 0 <= difficulty <= MAX_DIFFICULTY:
            raise ValueError(f"The difficulty must be an integer from 0 to {MAX_DIFFICULTY}.")
        data = reasoning_gym.create_dataset(
            self.dataset, seed=rg_seed(bytes(seed)), size=n, **self.config_for(difficulty)
        )
        problems = []
        for index in range(n):
            entry = data[index]
            problems.append(
                Problem(
                    index=index,
                    question=str(entry["question"]),
                    answer=str(entry["answer"]),
                    metadata={"env": self.name, "difficulty": difficulty},
                )
            )
        return problems

    def messages(self, problem: Problem) -> list[dict[str, str]]:
        """System prompt, the few-shot turns, then the question."""
        turns = [{"role": "system", "content": SYSTEM_PROMPT}]
        for shot in self.examples:
            turns.append({"role": "user", "content": shot.question})
            turns.append({"role": "assistant", "content": shot.reply})
        turns.append({"role": "user", "content": problem.question})
        return turns

    def score(self, problem: Problem, completion: str) -> float:
        """Reward in [0, 1] (module docstring); never raises."""
        try:
            correct, formatted = score_parts(problem, completion)
            reward = combined_reward(correct, formatted)
            return reward if math.isfinite(reward) and 0.0 <= reward <= 1.0 else 0.0
        except Exception:  # a scorer must not crash a node or a validator on junk input
            return 0.0

    def score_details(self, problem: Problem, completion: str) -> dict[str, float]:
        """Reward, correctness and format reward separately (for metrics); never raises."""
        try:
            correct, formatted = score_parts(problem, completion)
        except Exception:
            correct, formatted = 0.0, 0.0
        return {"reward": combined_reward(correct, formatted), "correct": correct, "format": formatted}


def basic_arithmetic_config(difficulty: int) -> dict[str, Any]:
    """Level 0: two one-digit terms with + and -. Each level adds terms, digits, operators."""
    if difficulty == 0:
        return dict(
            min_terms=2, max_terms=2, min_digits=1, max_digits=1, operators=("+", "-"),
            allow_parentheses=False, allow_negation=False,
        )  # fmt: skip
    if difficulty == 1:
        return dict(
            min_terms=2, max_terms=3, min_digits=1, max_digits=1, operators=("+", "-", "*"),
            allow_parentheses=False, allow_negation=False,
        )  # fmt: skip
    return dict(
        min_terms=2, max_terms=min(2 + difficulty, 6), min_digits=1, max_digits=min(difficulty, 4),
        operators=("+", "-", "*", "/"), allow_parentheses=difficulty >= 3, allow_negation=difficulty >= 4,
    )  # fmt: skip


def chain_sum_config(difficulty: int) -> dict[str, Any]:
    """Level 0: two one-digit terms. Each level adds a term and a digit; negation from 3."""
    return dict(
        min_terms=2, max_terms=min(2 + difficulty, 12), min_digits=1, max_digits=min(1 + difficulty, 10),
        allow_negation=difficulty >= 3,
    )  # fmt: skip


def gsm_symbolic_config(difficulty: int) -> dict[str, Any]:
    """reasoning-gym supports a single gsm_symbolic difficulty, so every level maps to it."""
    return {}


ARITHMETIC_SHOTS = (
    FewShot("Calculate 3 + 4.", "3 + 4 = 7.\n<answer>7</answer>"),
    FewShot("Calculate 2 - 6.", "2 - 6 = -4.\n<answer>-4</answer>"),
)
CHAIN_SUM_SHOTS = (
    FewShot(
        "State the final answer to the following arithmetic problem: 3 + 4 =",
        "3 + 4 = 7.\n<answer>7</answer>",
    ),
    FewShot(
        "State the final answer to the following arithmetic problem: 9 - 5 =",
        "9 - 5 = 4.\n<answer>4</answer>",
    ),
)
GSM_SHOTS = (
    FewShot(
        "Tom has 3 apples and buys 4 more. How many apples does he have? Give the result as your "
        "final answer. Do not include units.",
        "He has 3 + 4 = 7 apples.\n<answer>7</answer>",
    ),
    FewShot(
        "A box holds 6 pens. How many pens are in 5 boxes? Give the result as your final answer. "
        "Do not include units.",
        "5 boxes hold 5 * 6 = 30 pens.\n<answer>30</answer>",
    ),
)
