"""Generates the PROTOCOL.md test vectors (`python tests/verifier/verifier_vectors.py` prints the JSON block).

test_vectors.py recomputes every value from the spec'd functions and compares with the document,
so the document and the code cannot drift apart.
"""

from __future__ import annotations

import json

import torch

from verifier.challenge import get_challenge
from verifier.commitments import MerkleTree, leaf_hash, logprobs_hash, tokens_hash
from verifier.params import AuditParams
from verifier.prf import H, problem_seed, sample_indices, sampler_us
from verifier.rollout import Rollout
from verifier.sampler import inverse_cdf_draw

SEED = bytes(range(32))
CHALLENGE = bytes(range(32, 64))
MINER = "0x" + "ab" * 20
LOGITS = [2.0, -1.0, 0.5, 3.25, 0.0, -0.75, 1.5, 2.5]


def vector_rollouts() -> list[Rollout]:
    return [
        Rollout(
            9,
            MINER,
            p,
            g,
            (1, 2, 3),
            tuple(10 * p + g + t for t in range(3)),
            (-0.5, -1.25, -0.125 * (g + 1)),
            250_000 * g,
        )
        for p in range(2)
        for g in range(3)
    ]


def make_vectors() -> dict:
    us = sampler_us(SEED, 9, MINER, 1, 2, 4)
    logits = torch.tensor([LOGITS] * 6, dtype=torch.float32)
    draws_u = [0.0, 0.1, 0.5, 0.9, 0.999999, us[0]]
    tokens, logprobs = inverse_cdf_draw(logits, torch.tensor(draws_u, dtype=torch.float64), 0.7)
    rollouts = vector_rollouts()
    tree = MerkleTree.of_rollouts(rollouts)
    leaf = leaf_hash(rollouts[4])
    challenge = get_challenge(CHALLENGE, 9, MINER, 6, AuditParams(rollouts=2, positions=3))
    return {
        "prf": {
            "seed_randomness": SEED.hex(),
            "task_id": 9,
            "miner": MINER,
            "p": 1,
            "g": 2,
            "H": {
                "tag": "example",
                "fields_hex": ["", "00ff", SEED.hex()],
                "digest": H("example", b"", b"\x00\xff", SEED).hex(),
            },
            "problem_seed": problem_seed(SEED, 9).hex(),
            "sampler_u": [float.hex(u) for u in us],
            "sample_indices": {"key": SEED.hex(), "n": 10, "k": 4, "out": sample_indices(SEED, 10, 4)},
        },
        "sampler": {
            "logits_float32": LOGITS,
            "temperature": 0.7,
            "u": [float.hex(u) for u in draws_u],
            "tokens": tokens.tolist(),
            "logprobs": [float.hex(x) for x in logprobs.tolist()],
        },
        "leaf": {
            "rollout": {k: v for k, v in rollouts[4].to_dict().items() if k not in ("completion",)},
            "tokens_hash": tokens_hash(rollouts[4].tokens).hex(),
            "logprobs_hash": logprobs_hash(rollouts[4].logprobs).hex(),
            "leaf": leaf.hex(),
        },
        "merkle": {
            "leaves": [leaf_hash(r).hex() for r in rollouts],
            "root": tree.root.hex(),
            "proof_of_leaf_4": [x.hex() for x in tree.proof(leaf)],
        },
        "challenge": {
            "challenge_randomness": CHALLENGE.hex(),
            "task_id": 9,
            "miner": MINER,
            "total": 6,
            "audit_count": 2,
            "k": 3,
            "audited": [
                {"index": it.index, "positions_of_length_10": it.positions(10, 3)} for it in challenge.items
            ],
        },
    }


if __name__ == "__main__":
    print(json.dumps(make_vectors(), indent=1))
