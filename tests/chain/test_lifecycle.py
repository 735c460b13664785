"""The whole task lifecycle from Python against a real Anvil, with exact balance reconciliation."""

from __future__ import annotations

import secrets

import pytest
from eth_utils import keccak

from chain.clients import Outcome, Role, TaskStatus, Verdict, verdict_hash
from chain.errors import ChainRevert
from chain.events import InMemoryCursorStore
from chain.keys import identity_public_key, new_identity_secret, peer_id_bytes
from verifier.commitments import MerkleTree

RPT = 10**18
MINER_STAKE = 1_000 * RPT
PROPOSER, HONEST_A, HONEST_B, CHEATER, IDLE, VAL_A, VAL_B = 0, 1, 2, 3, 7, 4, 5


def leaves(tag: str, n: int) -> list[bytes]:
    return [keccak(text=f"{tag}:{i}") for i in range(n)]


def test_full_lifecycle_reconciles(chain_for, clock, task_params, devnet_beacon, accounts):
    proposer = chain_for(PROPOSER)
    token = proposer.token
    everyone = [a.address for a in accounts]
    supply_before = token.total_supply()
    start = {a: token.balance_of(a) for a in everyone}
    follower = proposer.follower(InMemoryCursorStore(), key="lifecycle")

    # Stake and bind peer ids.
    miners = [HONEST_A, HONEST_B, CHEATER, IDLE]
    for i in miners:
        c = chain_for(i)
        c.stakes.stake(Role.MINER, MINER_STAKE)
        secret = new_identity_secret()
        assert c.stakes.register_peer(secret) is not None
        assert c.stakes.register_peer(secret) is None  # idempotent: already bound
        assert c.stakes.peer_id_of(c.address) == peer_id_bytes(identity_public_key(secret))
        assert c.stakes.owner_of_peer(peer_id_bytes(identity_public_key(secret))) == c.address
    val_stakes = {VAL_A: 500 * RPT, VAL_B: 300 * RPT}
    for i, amount in val_stakes.items():
        chain_for(i).stakes.stake(Role.VALIDATOR, amount)
        assert chain_for(i).stakes.is_staked(chain_for(i).address, Role.VALIDATOR)

    # Post, join (the IDLE miner joins but never commits).
    params = task_params(step=60, reward=100 * RPT)
    task_id = proposer.board.post_task(params)
    task = proposer.board.get_task(task_id)
    assert task.status is TaskStatus.OPEN and task.proposer == proposer.address
    assert proposer.board.escrow_of(task_id) == params.reward
    genesis, period = proposer.beacon.genesis(), proposer.beacon.period()
    assert task.seed_round == (params.join_deadline - genesis) // period + 2
    adapters = {i: secrets.token_bytes(32) for i in miners}
    for i in miners:
        assert chain_for(i).settlement.join(task_id, adapters[i]) is not None
        assert chain_for(i).settlement.join(task_id, adapters[i]) is None  # restart-safe

    # Seed beacon after the join deadline; commits.
    clock.warp_to(params.join_deadline + 1)
    seed = devnet_beacon.sign(task.seed_round)
    assert proposer.beacon.record_beacon(*seed.onchain_args()) is not None
    assert proposer.beacon.record_beacon(*seed.onchain_args()) is None
    assert proposer.beacon.randomness(task.seed_round) == seed.randomness
    count = params.num_problems * params.rollouts_per_problem
    trees = {i: MerkleTree.of(leaves(f"m{i}", count)) for i in (HONEST_A, HONEST_B, CHEATER)}
    for i, tree in trees.items():
        assert chain_for(i).settlement.commit(task_id, tree.root, count) is not None
        assert chain_for(i).settlement.commit(task_id, tree.root, count) is None
    leaf = trees[HONEST_A].leaves[2]
    assert proposer.settlement.verify_leaf(
        task_id, chain_for(HONEST_A).address, trees[HONEST_A].proof(leaf), leaf
    )
    assert not proposer.settlement.verify_leaf(
        task_id, chain_for(HONEST_B).address, trees[HONEST_A].proof(leaf), leaf
    )

    # Commit-reveal verdicts: VAL_A fails the cheater, VAL_B passes it (and will disagree).
    addr = {i: chain_for(i).address for i in miners}
    verdicts = {
        VAL_A: [
            Verdict(addr[HONEST_A], True, 800_000, 2),
            Verdict(addr[HONEST_B], True, 400_000, 2),
            Verdict(addr[CHEATER], False, 0, 2),
        ],
        VAL_B: [
            Verdict(addr[HONEST_A], True, 600_000, 2),
            Verdict(addr[HONEST_B], True, 400_000, 2),
            Verdict(addr[CHEATER], True, 1_000_000, 2),
        ],
    }
    salts = {i: secrets.token_bytes(32) for i in verdicts}
    clock.warp_to(params.commit_deadline + 1)
    for i, vs in verdicts.items():
        v = chain_for(i).settlement
        assert v.verdict_hash_onchain(task_id, v.me, vs, salts[i]) == verdict_hash(
            task_id, v.me, vs, salts[i]
        )
        assert v.commit_verdict(task_id, vs, salts[i]) is not None
        assert v.commit_verdict(task_id, vs, salts[i]) is None
        assert v.validator_state(task_id, v.me).commit_hash == v.verdict_hash_onchain(
            task_id, v.me, vs, salts[i]
        )
    clock.warp_to(params.verdict_deadline + 1)
    for i, vs in verdicts.items():
        assert chain_for(i).settlement.reveal_verdict(task_id, vs, salts[i]) is not None
        assert chain_for(i).settlement.reveal_verdict(task_id, vs, salts[i]) is None

    # Finalize needs the challenge beacon.
    clock.warp_to(params.verify_deadline + 1)
    with pytest.raises(ChainRevert, match="challenge beacon of round .* is not recorded"):
        proposer.settlement.finalize(task_id)
    challenge = devnet_beacon.sign(task.challenge_round)
    proposer.beacon.record_beacon(*challenge.onchain_args())
    assert chain_for(9).settlement.finalize(task_id) is not None  # anyone may finalize
    assert chain_for(9).settlement.finalize(task_id) is None

    # Expected outcome, computed from PROTOCOL.md §2.5.
    escrow = params.reward
    validator_pool = escrow * 1_000 // 10_000
    miner_pool = escrow - validator_pool
    wa, wb = val_stakes[VAL_A], val_stakes[VAL_B]
    score_a = (wa * 800_000 + wb * 600_000) // (wa + wb)
    score_b = 400_000
    paid_a = miner_pool * score_a // (score_a + score_b)
    paid_b = miner_pool * score_b // (score_a + score_b)
    slashed = MINER_STAKE * 5_000 // 10_000
    validator_pool += slashed
    paid_val_a = validator_pool  # the only validator agreeing on every miner
    refund = escrow + slashed - paid_a - paid_b - paid_val_a

    s = proposer.settlement
    states = {i: s.miner_state(task_id, addr[i]) for i in miners}
    assert states[HONEST_A].outcome is Outcome.PASSED and states[HONEST_A].score == score_a
    assert states[HONEST_B].outcome is Outcome.PASSED and states[HONEST_B].paid == paid_b
    assert states[HONEST_A].paid == paid_a
    assert states[CHEATER].outcome is Outcome.FAILED and states[CHEATER].slashed == slashed
    assert states[IDLE].outcome is Outcome.NO_COMMIT and states[IDLE].paid == 0 and states[IDLE].slashed == 0
    assert s.validator_state(task_id, chain_for(VAL_A).address).agreed
    assert not s.validator_state(task_id, chain_for(VAL_B).address).agreed
    totals = s.task_settlement(task_id)
    assert totals.finalized and totals.refund == refund and totals.slashed == slashed
    assert proposer.board.task_status(task_id) is TaskStatus.FINALIZED
    assert proposer.stakes.active_stake(addr[CHEATER], Role.MINER) == MINER_STAKE - slashed

    # Pull payments.
    credits = {PROPOSER: refund, HONEST_A: paid_a, HONEST_B: paid_b, VAL_A: paid_val_a}
    for i, amount in credits.items():
        assert s.claimable(chain_for(i).address) == amount
        if amount:
            assert chain_for(i).settlement.claim() is not None
        assert chain_for(i).settlement.claim() is None  # nothing left
    assert s.claimable(chain_for(VAL_B).address) == 0

    # Unstake: too early is a sentence, after the cooldown the stake comes back.
    honest = chain_for(HONEST_A)
    honest.stakes.request_unstake(Role.MINER, MINER_STAKE)
    with pytest.raises(ChainRevert, match="cooldown ends at unix time"):
        honest.stakes.withdraw(Role.MINER)
    clock.warp_to(honest.stakes.cooldown_end(honest.address, Role.MINER) + 1)
    honest.stakes.withdraw(Role.MINER)
    assert honest.stakes.cooling_stake(honest.address, Role.MINER) == 0

    # Every balance reconciles exactly; no token was created or destroyed.
    expected = dict(start)
    expected[chain_for(PROPOSER).address] += -params.reward + refund
    expected[chain_for(HONEST_A).address] += paid_a  # staked and withdrew MINER_STAKE
    expected[chain_for(HONEST_B).address] += paid_b - MINER_STAKE
    expected[chain_for(CHEATER).address] -= MINER_STAKE
    expected[chain_for(IDLE).address] -= MINER_STAKE
    expected[chain_for(VAL_A).address] += paid_val_a - wa
    expected[chain_for(VAL_B).address] -= wb
    assert {a: token.balance_of(a) for a in everyone} == expected
    assert token.total_supply() == supply_before
    held = token.balance_of(proposer.stakes.address) + token.balance_of(proposer.settlement.address)
    assert held == 2 * MINER_STAKE + (MINER_STAKE - slashed) + wa + wb
    assert token.balance_of(proposer.board.address) == 0

    # The follower saw the story in order, each event once.
    names = [e.name for e in follower.drain()]
    assert names.count("Joined") == 4 and names.count("Committed") == 3
    assert names.count("MinerSettled") == 4 and names.count("TaskFinalized") == 1
    assert (
        names.index("TaskPosted")
        < names.index("Joined")
        < names.index("Committed")
        < names.index("TaskFinalized")
    )
    assert follower.drain() == []


def test_cancel_refunds_and_only_the_proposer_may(chain_for, task_params):
    proposer, stranger = chain_for(0), chain_for(6)
    before = proposer.token.balance_of(proposer.address)
    task_id = proposer.board.post_task(task_params(reward=40 * RPT))
    assert proposer.token.balance_of(proposer.address) == before - 40 * RPT
    with pytest.raises(ChainRevert, match=f"only the proposer {proposer.address} may do this"):
        stranger.board.cancel_task(task_id)
    proposer.board.cancel_task(task_id)
    assert proposer.board.task_status(task_id) is TaskStatus.CANCELLED
    assert proposer.token.balance_of(proposer.address) == before
    with pytest.raises(ChainRevert, match=f"task {task_id} is not open"):
        chain_for(1).settlement.join(task_id, b"\x01" * 32)


def test_task_without_validators_returns_the_escrow(chain_for, clock, task_params, devnet_beacon):
    proposer, miner = chain_for(0), chain_for(1)
    miner.stakes.stake(Role.MINER, 100 * RPT)
    params = task_params(reward=30 * RPT)
    task_id = proposer.board.post_task(params)
    miner.settlement.join(task_id, b"\x01" * 32)
    miner.settlement.commit(task_id, keccak(b"r"), params.num_problems * params.rollouts_per_problem)
    clock.warp_to(params.verify_deadline + 1)
    task = proposer.board.get_task(task_id)
    proposer.beacon.record_beacon(*devnet_beacon.sign(task.challenge_round).onchain_args())
    miner.settlement.finalize(task_id)  # permissionless
    assert proposer.settlement.miner_state(task_id, miner.address).outcome is Outcome.UNAUDITED
    assert proposer.settlement.claimable(proposer.address) == 30 * RPT
    assert miner.stakes.active_stake(miner.address, Role.MINER) == 100 * RPT
