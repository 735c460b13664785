"""Settlement v2's new refusals, through the Python bindings on a real Anvil: each rule broken by exactly
one caller, each refusal read as a sentence (chain/errors.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_utils import keccak

from chain.clients import Role, Verdict, Vote, forced_error_commitment
from chain.errors import ChainRevert

RPT = 10**18


def _post_and_commit(chain_for, task_params, miner_index=1, **overrides):
    proposer, miner = chain_for(0), chain_for(miner_index)
    params = task_params(**overrides)
    task_id = proposer.board.post_task(params)
    miner.stakes.stake(Role.MINER, 100 * RPT)
    miner.settlement.join(
        task_id, b"\x01" * 32, forced_error_commitment(task_id, miner.address, b"\x02" * 32)
    )
    miner.settlement.commit(task_id, keccak(b"root"), params.num_problems * params.rollouts_per_problem)
    return task_id, params, proposer.board.get_task(task_id)


def test_post_refuses_a_verdict_window_without_audit_time(chain, task_params):
    params = task_params(step=60)
    earliest = chain.board.earliest_verdict_deadline(params.commit_deadline)
    lag = chain.board.beacon_lag()
    assert lag == 12
    assert earliest == chain.board.round_time(chain.board.round_at(params.commit_deadline + lag) + 1) + 5
    # One set of deadlines for both posts: the clock moves between calls of task_params.
    bad = replace(params, verdict_deadline=earliest - 1)
    with pytest.raises(ChainRevert, match=r"leaves too little audit time: it must be at least \d+"):
        chain.board.post_task(bad)
    ok = replace(params, verdict_deadline=earliest)
    assert chain.board.post_task(ok) > 0


def test_post_refuses_bad_audit_parameters(chain, task_params):
    with pytest.raises(ChainRevert, match=r"audit parameters are out of range \(m=5 must be 1..P x G"):
        chain.board.post_task(task_params(audit_rollouts=5))
    with pytest.raises(ChainRevert, match="max miners 0 must be between 1 and 128"):
        chain.board.post_task(task_params(max_miners=0))
    task_id = chain.board.post_task(task_params(audit_rollouts=2, audit_positions=8, dtype=1))
    stored = chain.board.get_task(task_id).params
    assert (stored.audit_rollouts, stored.audit_positions, stored.dtype) == (2, 8, 1)
    assert stored.logprob_tolerance == 1.5e-4  # the calibrated default (PROTOCOL §9.2)


def test_task_names_its_tokenizer(chain, task_params):
    """TaskParams.tokenizerHash goes on chain with the other audit parameters and comes back as posted."""
    named = task_params(tokenizer_hash=bytes(range(32)))
    stored = chain.board.get_task(chain.board.post_task(named)).params
    assert stored == named and stored.tokenizer_hash == bytes(range(32))


def test_a_task_naming_no_tokenizer_is_refused_with_a_clear_sentence(chain, task_params):
    """A proposer posting tokenizerHash = 0 (a task no miner or validator would take: PROTOCOL §5) is
    refused by postTask, told why in words, and nothing is posted or escrowed."""
    before = chain.token.balance_of(chain.address)
    with pytest.raises(ChainRevert, match=r"names no tokenizer \(tokenizerHash is zero\)") as caught:
        chain.board.post_task(task_params(tokenizer_hash=bytes(32)))
    assert caught.value.name == "ZeroTokenizerHash"
    assert chain.board.task_count() == 0
    assert chain.token.balance_of(chain.address) == before


def test_join_locks_free_stake_once(chain_for, task_params):
    proposer, miner = chain_for(0), chain_for(1)
    params = task_params(reward=500 * RPT, max_miners=4)
    first = proposer.board.post_task(params)
    second = proposer.board.post_task(params)
    lock = proposer.settlement.lock_amount(first)
    assert lock == (500 * RPT - 50 * RPT) // 4 * 2
    miner.stakes.stake(Role.MINER, lock + 10 * RPT)
    miner.settlement.join(first, b"\x01" * 32, b"\x02" * 32)
    info = miner.stakes.stake_info(miner.address, Role.MINER)
    assert info.locked == lock and info.free == 10 * RPT
    with pytest.raises(ChainRevert, match=r"has 10 RPT of free miner stake but 225 RPT must be locked"):
        miner.settlement.join(second, b"\x01" * 32, b"\x02" * 32)
    with pytest.raises(ChainRevert, match=r"cannot unstake .*: the active miner stake is only 10 RPT"):
        miner.stakes.request_unstake(Role.MINER, lock)


def test_commit_refused_once_the_challenge_is_known(chain_for, task_params, clock, devnet_beacon):
    proposer, late = chain_for(0), chain_for(2)
    task_id, params, task = _post_and_commit(chain_for, task_params)
    late.stakes.stake(Role.MINER, 100 * RPT)
    late.settlement.join(task_id, b"\x03" * 32, b"\x04" * 32)
    # The devnet signer can sign ahead; on drand the challenge does not exist before the commit deadline.
    proposer.beacon.record_beacon(*devnet_beacon.sign(task.challenge_round).onchain_args())
    with pytest.raises(
        ChainRevert, match=f"challenge beacon of round {task.challenge_round} is already recorded"
    ):
        late.settlement.commit(task_id, keccak(b"late"), params.num_problems * params.rollouts_per_problem)


def test_only_committee_members_vote_and_each_settles(chain_for, task_params, clock, devnet_beacon):
    proposer, member, outsider = chain_for(0), chain_for(4), chain_for(5)
    member.stakes.stake(Role.VALIDATOR, 5_000 * RPT)
    task_id, params, task = _post_and_commit(chain_for, task_params)
    outsider.stakes.stake(Role.VALIDATOR, 1_000 * RPT)  # commits an empty list: cannot reveal it
    clock.warp_to(params.commit_deadline + 1)
    late = chain_for(6)
    late.stakes.stake(Role.VALIDATOR, 500 * RPT)  # staked after the commit deadline: no seat
    clock.warp_to(proposer.board.round_time(task.challenge_round))
    proposer.beacon.record_beacon(*devnet_beacon.sign(task.challenge_round).onchain_args())
    assert proposer.settlement.committee_seats(task_id, late.address) == 0
    verdicts = [Verdict(chain_for(1).address, Vote.PASS, 500_000, 4)]
    with pytest.raises(ChainRevert, match=f"holds no seat on the committee of task {task_id}"):
        late.settlement.commit_verdict(task_id, verdicts, b"\x05" * 32)
    chain_for(1).stakes.stake(Role.VALIDATOR, 500 * RPT)
    with pytest.raises(ChainRevert, match="joined the task as a miner, so it cannot sit on its committee"):
        chain_for(1).settlement.commit_verdict(task_id, verdicts, b"\x05" * 32)
    assert proposer.settlement.committee_seats(task_id, outsider.address) > 0
    member.settlement.commit_verdict(task_id, verdicts, b"\x05" * 32)
    outsider.settlement.commit_verdict(task_id, [], b"\x05" * 32)
    clock.warp_to(params.verdict_deadline + 1)
    with pytest.raises(ChainRevert, match="holds 0 verdicts but 1 miners committed"):
        outsider.settlement.reveal_verdict(task_id, [], b"\x05" * 32)
    member.settlement.reveal_verdict(task_id, verdicts, b"\x05" * 32)
    clock.warp_to(params.verify_deadline + 1)
    with pytest.raises(ChainRevert, match=f"task {task_id} is not finalized yet"):
        proposer.settlement.settle_validator(task_id, member.address)
    proposer.settlement.finalize(task_id)
    for c in (member, outsider):
        if proposer.settlement.validator_state(task_id, c.address).commit_hash != bytes(32):
            assert proposer.settlement.settle_validator(task_id, c.address) is not None
            assert proposer.settlement.settle_validator(task_id, c.address) is None
    state = proposer.settlement.validator_state(task_id, member.address)
    assert state.settled and not state.penalized and state.fee > 0
    assert proposer.stakes.locked_stake(member.address, Role.VALIDATOR) == 0
    silent = proposer.settlement.validator_state(task_id, outsider.address)
    assert silent.penalized and silent.fee == 0, "committed and never revealed: bond forfeited"
    assert proposer.stakes.active_stake(outsider.address, Role.VALIDATOR) == 1_000 * RPT - silent.bond


def test_fraud_proof_fails_a_malformed_commitment(chain_for, task_params, clock, devnet_beacon):
    """A leaf with p >= P opened from a miner's root: FAILED by proof, the prover earns the bounty."""
    from eth_abi import encode as abi_encode

    from chain.clients import Fraud, Leaf, Outcome
    from verifier.commitments import LEAF_TYPES, MerkleTree

    proposer, miner, prover = chain_for(0), chain_for(1), chain_for(8)
    params = task_params()
    task_id = proposer.board.post_task(params)
    miner.stakes.stake(Role.MINER, 100 * RPT)
    miner.settlement.join(task_id, b"\x01" * 32, b"\x02" * 32)
    good = Leaf(task_id, miner.address, 0, 0, b"\x0a" * 32, b"\x0b" * 32, 1_000_000)
    bad = Leaf(task_id, miner.address, params.num_problems, 0, b"\x0c" * 32, b"\x0d" * 32, 0)
    hashes = [keccak(keccak(abi_encode(LEAF_TYPES, list(leaf.as_tuple())))) for leaf in (good, bad)]
    assert [prover.disputes.leaf_hash_onchain(leaf) for leaf in (good, bad)] == hashes
    tree = MerkleTree.of(hashes)
    miner.settlement.commit(task_id, tree.root, params.num_problems * params.rollouts_per_problem)
    with pytest.raises(ChainRevert, match="consistent with the task; there is no fraud to prove"):
        prover.disputes.prove_fraud(task_id, miner.address, good, tree.proof(hashes[0]))
    with pytest.raises(ChainRevert, match="does not open .* committed root with this leaf"):
        prover.disputes.prove_fraud(task_id, miner.address, bad, tree.proof(hashes[0]))
    receipt = prover.disputes.prove_fraud(task_id, miner.address, bad, tree.proof(hashes[1]))
    assert prover.disputes.events_in(receipt, "FraudProven")[0].args["fraud"] == Fraud.PROBLEM_OUT_OF_RANGE
    assert prover.disputes.prove_fraud(task_id, miner.address, bad, tree.proof(hashes[1])) is None
    clock.warp_to(params.verify_deadline + 1)
    task = proposer.board.get_task(task_id)
    proposer.beacon.record_beacon(*devnet_beacon.sign(task.challenge_round).onchain_args())
    proposer.settlement.finalize(task_id)
    state = proposer.settlement.miner_state(task_id, miner.address)
    assert state.fraud and state.outcome is Outcome.FAILED and state.slashed == state.locked
    bounty = min(proposer.settlement.params().jackpot, state.locked // 2)
    assert proposer.settlement.claimable(prover.address) == bounty
