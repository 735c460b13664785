"""Leaves and OZ standard Merkle trees: Python proofs, and the deployed Disputes.verifyLeaf on Anvil."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_abi import encode
from eth_utils import keccak

from verifier.commitments import (
    MerkleTree,
    hash_pair,
    leaf_hash,
    logprobs_hash,
    process_proof,
    tokens_hash,
    verify_proof,
)
from verifier.rollout import Rollout

MINER = "0x" + "ab" * 20


def rollout(i: int, miner: str = MINER) -> Rollout:
    return Rollout(3, miner, i // 4, i % 4, (1, 2), (5 + i, 6, 2), (-0.25, -1.5, -3.0), 500_000)


def test_token_and_logprob_hash_encodings():
    assert tokens_hash([1, 258]) == keccak(bytes.fromhex("0000000100000102"))
    assert logprobs_hash([-0.5, 1.0]) == keccak(bytes.fromhex("bf0000003f800000"))


def test_leaf_is_double_keccak_of_abi_encoding():
    r = rollout(1)
    inner = encode(
        ["uint256", "address", "uint32", "uint32", "bytes32", "bytes32", "uint64"],
        [3, MINER, 0, 1, tokens_hash(r.tokens), logprobs_hash(r.logprobs), 500_000],
    )
    assert leaf_hash(r) == keccak(keccak(inner))


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 16, 33])
def test_every_proof_verifies(n):
    leaves = [leaf_hash(rollout(i)) for i in range(n)]
    tree = MerkleTree.of(leaves)
    for leaf in leaves:
        assert verify_proof(tree.root, leaf, tree.proof(leaf))
    assert len(tree.nodes) == 2 * n - 1


def test_known_two_leaf_root():
    a, b = keccak(b"a"), keccak(b"b")
    assert MerkleTree.of([a, b]).root == hash_pair(a, b) == keccak(min(a, b) + max(a, b))


def test_root_independent_of_leaf_order():
    leaves = [leaf_hash(rollout(i)) for i in range(6)]
    assert MerkleTree.of(leaves).root == MerkleTree.of(list(reversed(leaves))).root


def test_any_change_to_a_rollout_breaks_its_proof():
    rs = [rollout(i) for i in range(8)]
    tree = MerkleTree.of_rollouts(rs)
    proof = tree.proof(leaf_hash(rs[3]))
    for edited in (
        replace(rs[3], tokens=(99, 6, 2)),
        replace(rs[3], logprobs=(-0.25, -1.5, -2.9)),
        replace(rs[3], claimed_reward=1_000_000),
        replace(rs[3], miner="0x" + "cd" * 20),
        replace(rs[3], task_id=4),
        replace(rs[3], g=0),
    ):
        assert not verify_proof(tree.root, leaf_hash(edited), proof)
    assert verify_proof(tree.root, leaf_hash(rs[3]), proof)


def test_malformed_proofs_are_rejected_not_raised():
    tree = MerkleTree.of([leaf_hash(rollout(i)) for i in range(4)])
    leaf = tree.leaves[0]
    assert not verify_proof(tree.root, leaf, [b"\x00" * 31])
    assert not verify_proof(tree.root, leaf, [b"\x00" * 32] * 65)
    assert not verify_proof(tree.root[:31], leaf, tree.proof(leaf))
    assert process_proof(leaf, tree.proof(leaf)) == tree.root
    with pytest.raises(ValueError, match="not in the tree"):
        tree.proof(b"\x01" * 32)
    with pytest.raises(ValueError, match="at least one"):
        MerkleTree.of([])


def test_proofs_against_deployed_settlement(chain_for, clock, task_params, devnet_beacon, accounts):
    """Commit a real tree on Anvil and check every proof with Disputes.verifyLeaf (OZ MerkleProof)."""
    from chain.clients import Role, forced_error_commitment

    proposer, miner = chain_for(0), chain_for(1)
    miner.stakes.stake(Role.MINER, 1_000 * 10**18)
    params = task_params(step=60)
    task_id = proposer.board.post_task(params)
    secret = b"\x05" * 32
    commitment = forced_error_commitment(task_id, miner.address, secret)
    assert miner.settlement.join(task_id, b"\x01" * 32, commitment) is not None
    clock.warp_to(params.join_deadline + 1)
    count = params.num_problems * params.rollouts_per_problem
    rs = [
        Rollout(
            task_id,
            miner.address,
            i // params.rollouts_per_problem,
            i % params.rollouts_per_problem,
            (1,),
            (7 + i, 2),
            (-0.5, -0.25),
            250_000 * i,
        )
        for i in range(count)
    ]
    tree = MerkleTree.of_rollouts(rs)
    assert miner.settlement.commit(task_id, tree.root, count) is not None
    for r in rs:
        leaf = leaf_hash(r)
        assert proposer.disputes.verify_leaf(task_id, miner.address, tree.proof(leaf), leaf)
    forged = leaf_hash(replace(rs[1], claimed_reward=1_000_000))
    assert not proposer.disputes.verify_leaf(task_id, miner.address, tree.proof(leaf_hash(rs[1])), forged)
    assert not proposer.disputes.verify_leaf(
        task_id, accounts[2].address, tree.proof(leaf_hash(rs[1])), leaf_hash(rs[1])
    )
