"""Rollout leaves and Merkle trees in OpenZeppelin's StandardMerkleTree format (PROTOCOL.md §6).

A tree built here has the same root and proofs as `@openzeppelin/merkle-tree`'s
`StandardMerkleTree.of(values, ["uint256","address","uint32","uint32","bytes32","bytes32","uint64"])`,
so `MerkleProof.verify(proof, root, leaf)` in Solidity accepts them.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi import encode as abi_encode
from eth_utils import keccak

from verifier.prf import address_bytes
from verifier.rollout import Rollout

LEAF_TYPES = ["uint256", "address", "uint32", "uint32", "bytes32", "bytes32", "uint64"]
MAX_TREE_LEAVES = 1 << 20
MAX_PROOF_LENGTH = 64


def tokens_hash(tokens: Sequence[int]) -> bytes:
    """keccak256 of the tokens packed as 4-byte big-endian unsigned integers."""
    return keccak(struct.pack(f">{len(tokens)}I", *tokens))


def logprobs_hash(logprobs: Sequence[float]) -> bytes:
    """keccak256 of the logprobs packed as 4-byte big-endian IEEE-754 float32."""
    return keccak(struct.pack(f">{len(logprobs)}f", *logprobs))


def leaf_value(rollout: Rollout) -> tuple[int, str, int, int, bytes, bytes, int]:
    """(taskId, miner, p, g, tokensHash, logprobsHash, claimedReward): the leaf's ABI values."""
    return (
        rollout.task_id,
        "0x" + address_bytes(rollout.miner).hex(),
        rollout.p,
        rollout.g,
        tokens_hash(rollout.tokens),
        logprobs_hash(rollout.logprobs),
        rollout.claimed_reward,
    )


def leaf_hash(rollout: Rollout) -> bytes:
    """OZ standard leaf: keccak256(bytes.concat(keccak256(abi.encode(values))))."""
    return keccak(keccak(abi_encode(LEAF_TYPES, list(leaf_value(rollout)))))


def hash_pair(a: bytes, b: bytes) -> bytes:
    """OZ commutative node hash: keccak256 of the two children in ascending byte order."""
    return keccak(a + b) if a <= b else keccak(b + a)


def process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root implied by a leaf and its proof (OZ MerkleProof.processProof)."""
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node


def verify_proof(root: bytes, leaf: bytes, proof: Sequence[bytes]) -> bool:
    """OZ MerkleProof.verify; false (never an exception) for malformed input."""
    if len(root) != 32 or len(leaf) != 32 or len(proof) > MAX_PROOF_LENGTH:
        return False
    if any(not isinstance(s, bytes) or len(s) != 32 for s in proof):
        return False
    return process_proof(leaf, proof) == root


@dataclass(frozen=True)
class MerkleTree:
    """A StandardMerkleTree over leaf hashes: leaves sorted ascending, stored in a flat array with
    the root at 0, children of i at 2i+1 and 2i+2, and the sorted leaves at the end in reverse."""

    nodes: tuple[bytes, ...]
    leaves: tuple[bytes, ...]  # in the caller's order

    @classmethod
    def of(cls, leaves: Sequence[bytes]) -> MerkleTree:
        if not leaves:
            raise ValueError("a Merkle tree needs at least one leaf")
        if len(leaves) > MAX_TREE_LEAVES:
            raise ValueError("too many leaves")
        if any(len(leaf) != 32 for leaf in leaves):
            raise ValueError("leaves must be 32-byte hashes")
        ordered = sorted(leaves)
        n = len(ordered)
        nodes: list[bytes] = [b""] * (2 * n - 1)
        for i, leaf in enumerate(ordered):
            nodes[len(nodes) - 1 - i] = leaf
        for i in range(len(nodes) - 1 - n, -1, -1):
            nodes[i] = hash_pair(nodes[2 * i + 1], nodes[2 * i + 2])
        return cls(tuple(nodes), tuple(leaves))

    @classmethod
    def of_rollouts(cls, rollouts: Sequence[Rollout]) -> MerkleTree:
        return cls.of([leaf_hash(r) for r in rollouts])

    @property
    def root(self) -> bytes:
        return self.nodes[0]

    def proof(self, leaf: bytes) -> list[bytes]:
        """Sibling hashes from the leaf up to (not including) the root."""
        try:
            i = self.nodes.index(leaf, len(self.nodes) - len(self.leaves))
        except ValueError:
            raise ValueError("leaf is not in the tree") from None
        out = []
        while i > 0:
            sibling = i + 1 if i % 2 == 1 else i - 1
            out.append(self.nodes[sibling])
            i = (i - 1) // 2
        return out
