"""`devnet_letters`: a devnet/test environment whose reward a random-init tiny model can earn.

The reasoning-gym environments score a random tiny model at exactly 0, so a tiny-model devnet could
never show a payout (miners are paid in proportion to verified score). This environment keeps the
protocol identical (problems derived from the seed beacon, prompt = chat template of `messages`,
reward recomputed by the validator from the decoded tokens) with a reward any text earns:
the fraction of the completion's characters that are ASCII letters. It is registered only in the
roles' environment lookup (`node.tasks.view.get_env`), never posted by `make devnet`.
"""

from __future__ import annotations

import hashlib

from verifier.env import Problem

NAME = "devnet_letters"
WORDS = ("apple", "river", "stone", "cloud", "maple", "ember", "delta", "orbit")


class LettersEnv:
    name = NAME

    def generate(self, seed: bytes, n: int, difficulty: int) -> list[Problem]:
        out = []
        for i in range(n):
            digest = hashlib.sha256(b"rollproof.devnet_letters" + bytes(seed) + i.to_bytes(4, "big")).digest()
            word = WORDS[digest[0] % len(WORDS)]
            out.append(
                Problem(i, f"Write a sentence about the word {word}.", word, {"difficulty": difficulty})
            )
        return out

    def messages(self, problem: Problem) -> list[dict[str, str]]:
        return [{"role": "user", "content": problem.question}]

    def score(self, problem: Problem, completion: str) -> float:
        text = completion[:262_144]
        if not text:
            return 0.0
        letters = sum(1 for ch in text if ch.isascii() and ch.isalpha())
        return round(letters / len(text), 6)
