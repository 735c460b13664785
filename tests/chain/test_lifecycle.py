"""The whole Settlement v2 lifecycle from Python against a real Anvil, with exact reconciliation.

Every number is recomputed here from the rules of PROTOCOL.md §2.5-§2.9 (seats, outcomes, payments,
fees, jackpots, bonds, treasury) and compared with what the contracts did.
"""

from __future__ import annotations

import secrets

import pytest
from eth_utils import keccak

from chain.clients import (
    Check,
    Outcome,
    Role,
    TaskStatus,
    Verdict,
    Vote,
    committee_seats_offchain,
    decode_votes,
    forced_error_commitment,
    is_forced,
    verdict_hash,
)
from chain.errors import ChainRevert
from chain.events import InMemoryCursorStore
from chain.keys import identity_public_key, new_identity_secret, peer_id_bytes
from verifier.commitments import MerkleTree

RPT = 10**18
MINER_STAKE = 1_000 * RPT
TREASURY_SEED = 100 * RPT
PROPOSER, FORCED, HONEST, CHEATER, IDLE, VAL_A, VAL_B = 0, 1, 2, 3, 7, 4, 5
BPS, MAX_SCORE = 10_000, 1_000_000


def leaves(tag: str, n: int) -> list[bytes]:
    return [keccak(text=f"{tag}:{i}") for i in range(n)]


def forced_secret(seed_randomness: bytes, odds: int, want: bool) -> bytes:
    """A secret that is (or is not) forced under the seed beacon (the devnet signer knows it in advance)."""
    while True:
        secret = secrets.token_bytes(32)
        if is_forced(secret, seed_randomness, odds) == want:
            return secret


def pay(cap: int, base_bps: int, score: int) -> int:
    return cap * (base_bps * MAX_SCORE + (BPS - base_bps) * score) // (BPS * MAX_SCORE)


def test_full_lifecycle_reconciles(chain_for, clock, task_params, devnet_beacon, accounts):
    proposer = chain_for(PROPOSER)
    token, s = proposer.token, proposer.settlement
    p = s.params()
    everyone = [a.address for a in accounts]
    supply_before = token.total_supply()
    follower = proposer.follower(InMemoryCursorStore(), key="lifecycle")
    s.fund_treasury(TREASURY_SEED, token)
    assert s.treasury() == TREASURY_SEED
    burned_before = s.burned()
    start = {a: token.balance_of(a) for a in everyone}

    # Stake and bind peer ids.
    miners = [FORCED, HONEST, CHEATER, IDLE]
    for i in miners:
        c = chain_for(i)
        c.stakes.stake(Role.MINER, MINER_STAKE)
        identity = new_identity_secret()
        assert c.stakes.register_peer(identity) is not None
        assert c.stakes.register_peer(identity) is None  # idempotent: already bound
        assert c.stakes.peer_id_of(c.address) == peer_id_bytes(identity_public_key(identity))
    val_stakes = {VAL_A: 500 * RPT, VAL_B: 300 * RPT}
    for i, amount in val_stakes.items():
        chain_for(i).stakes.stake(Role.VALIDATOR, amount)

    # Post with four miner slots: cap = 90 / 4 RPT, lock = 2 x cap.
    params = task_params(step=60, reward=100 * RPT, max_miners=4)
    task_id = proposer.board.post_task(params)
    task = proposer.board.get_task(task_id)
    assert task.status is TaskStatus.OPEN and task.params == params
    cap, lock = s.miner_cap(task_id), s.lock_amount(task_id)
    assert cap == 90 * RPT // 4 and lock == cap * p.deterrence_bps // BPS

    # Join with forced-error commitments: FORCED is forced under the seed beacon, the others are not.
    seed = devnet_beacon.sign(task.seed_round)
    secret = {i: forced_secret(seed.randomness, p.forced_error_odds, i == FORCED) for i in miners}
    addr = {i: chain_for(i).address for i in miners}
    adapters = {i: secrets.token_bytes(32) for i in miners}
    for i in miners:
        commit = forced_error_commitment(task_id, addr[i], secret[i])
        assert s.forced_error_commitment_onchain(task_id, addr[i], secret[i]) == commit
        assert chain_for(i).settlement.join(task_id, adapters[i], commit) is not None
        assert chain_for(i).settlement.join(task_id, adapters[i], commit) is None  # restart-safe
        assert proposer.stakes.locked_stake(addr[i], Role.MINER) == lock

    # Seed beacon after the join deadline; commits before the challenge beacon.
    clock.warp_to(params.join_deadline + 1)
    assert proposer.beacon.record_beacon(*seed.onchain_args()) is not None
    assert s.is_forced(secret[FORCED], seed.randomness)
    count = params.num_problems * params.rollouts_per_problem
    trees = {i: MerkleTree.of(leaves(f"m{i}", count)) for i in (FORCED, HONEST, CHEATER)}
    for i, tree in trees.items():
        assert chain_for(i).settlement.commit(task_id, tree.root, count) is not None
    leaf = trees[HONEST].leaves[2]
    assert proposer.disputes.verify_leaf(task_id, addr[HONEST], trees[HONEST].proof(leaf), leaf)

    # The committee exists once the challenge beacon is recorded.
    vals = {i: chain_for(i) for i in val_stakes}
    clock.warp_to(params.commit_deadline + 1)
    with pytest.raises(ChainRevert, match="challenge beacon of round .* is not recorded"):
        vals[VAL_A].settlement.committee_seats(task_id, vals[VAL_A].address)
    challenge = devnet_beacon.sign(task.challenge_round)
    clock.warp_to(proposer.board.round_time(task.challenge_round))
    proposer.beacon.record_beacon(*challenge.onchain_args())
    total = proposer.stakes.total_validator_stake_at(params.commit_deadline)
    assert total == sum(val_stakes.values())
    seats = {}
    for i, c in vals.items():
        seats[i] = s.committee_seats(task_id, c.address)
        assert seats[i] == committee_seats_offchain(
            challenge.randomness, task_id, c.address, val_stakes[i], total, p.committee_seats
        )
    assert seats[VAL_A] > 0 and seats[VAL_B] > 0

    # VAL_A audits: FAIL on the forced miner (logprob), PASS on the honest one, FAIL on the cheater (token).
    # VAL_B is lazy and passes everyone.
    verdicts = {
        VAL_A: [
            Verdict(addr[FORCED], Vote.FAIL, 800_000, 2, 1, 5, Check.LOGPROB),
            Verdict(addr[HONEST], Vote.PASS, 400_000, 2),
            Verdict.from_pass(addr[CHEATER], False, 0, 2, Check.TOKEN, 3, 9),
        ],
        VAL_B: [Verdict(addr[i], Vote.PASS, 1_000_000, 0) for i in (FORCED, HONEST, CHEATER)],
    }
    salts = {i: secrets.token_bytes(32) for i in verdicts}
    for i, vs in verdicts.items():
        v = vals[i].settlement
        assert v.verdict_hash_onchain(task_id, v.me, vs, salts[i]) == verdict_hash(
            task_id, v.me, vs, salts[i]
        )
        assert v.commit_verdict(task_id, vs, salts[i]) is not None
        assert v.commit_verdict(task_id, vs, salts[i]) is None
        assert proposer.stakes.locked_stake(v.me, Role.VALIDATOR) == p.validator_bond * seats[i]
    clock.warp_to(params.verdict_deadline + 1)
    assert chain_for(FORCED).settlement.reveal_forced_error(task_id, secret[FORCED]) is not None
    assert chain_for(FORCED).settlement.reveal_forced_error(task_id, secret[FORCED]) is None
    for i, vs in verdicts.items():
        assert vals[i].settlement.reveal_verdict(task_id, vs, salts[i]) is not None
        assert vals[i].settlement.reveal_verdict(task_id, vs, salts[i]) is None
    r = seats[VAL_A] + seats[VAL_B]
    tally = s.tally_of(task_id, addr[CHEATER])
    assert (tally.pass_seats, tally.fail_seats) == (seats[VAL_B], seats[VAL_A])
    state_a = s.validator_state(task_id, vals[VAL_A].address)
    assert decode_votes(state_a.votes, s.miner_state(task_id, addr[CHEATER]).index) is Vote.FAIL
    assert s.vote_of(task_id, vals[VAL_A].address, addr[FORCED]) is Vote.FAIL

    # The cheater has a FAIL vote and no PASS supermajority (VAL_B passed it): it is contested, so
    # finalize waits for its dispute window (PROTOCOL §2.10), which it lets pass.
    clock.warp_to(params.verify_deadline + 1)
    with pytest.raises(ChainRevert, match="contested miner of task"):
        chain_for(9).settlement.finalize(task_id)
    clock.warp_to(proposer.disputes.windows(task_id).dispute_deadline + 1)
    assert chain_for(9).settlement.finalize(task_id) is not None  # anyone may finalize
    assert chain_for(9).settlement.finalize(task_id) is None
    for i in (VAL_B, VAL_A):  # anyone may settle a member
        assert chain_for(9).settlement.settle_validator(task_id, vals[i].address) is not None
        assert chain_for(9).settlement.settle_validator(task_id, vals[i].address) is None

    # Expected, from the rules.
    sup, base = p.supermajority_bps, p.base_share_bps
    pool = params.reward * p.validator_fee_bps // BPS
    assert r * BPS >= p.quorum_bps * p.committee_seats, "both members reveal: a quorum"
    # A forced error is caught by FAILs naming LOGPROB (VAL_A's) over a third of a quorum's seats.
    caught = seats[VAL_A] * BPS > (BPS - sup) * r
    b_passes = seats[VAL_B] * BPS >= sup * r
    if seats[VAL_A] * BPS >= sup * r:
        cheater_outcome = Outcome.FAILED
    elif seats[VAL_B] * BPS >= sup * r:
        cheater_outcome = Outcome.PASSED
    else:
        cheater_outcome = Outcome.UNDECIDED
    treasury = TREASURY_SEED
    jackpot_eff = min(p.jackpot, cap)  # a tiny task pays no more than its cap per forced miner
    # The obedience bonus comes out of the task's validator pool, at most its per-slot part.
    bonus = min(jackpot_eff // p.committee_seats, pool // params.max_miners) if caught else 0
    pool -= bonus
    # The seat-weighted mode of the PASS scores; a tie keeps the first revealed (VAL_A).
    honest_score = 400_000 if seats[VAL_A] >= seats[VAL_B] else 1_000_000
    if caught:
        forced_paid = pay(cap, base, 800_000) + bonus
    elif b_passes:
        forced_paid = pay(cap, base, 1_000_000)  # it ignored the forced error, and a supermajority passed it
    else:
        forced_paid = 0
    paid = {FORCED: forced_paid, HONEST: pay(cap, base, honest_score), IDLE: 0}
    undecided = 0
    slashed = 0
    if cheater_outcome is Outcome.FAILED:
        paid[CHEATER], slashed = 0, lock
    elif cheater_outcome is Outcome.PASSED:
        paid[CHEATER] = pay(cap, base, 1_000_000)
    else:
        paid[CHEATER] = 0  # nobody verified it: nothing paid, its cap burned (not the treasury's)
        undecided = cap
    no_show = min(cap * base // BPS, lock)  # IDLE joined and never committed
    treasury += slashed + no_show
    refund = (params.reward - pool - bonus) - sum(paid.values()) + bonus - undecided
    decided = 2 + (cheater_outcome is not Outcome.UNDECIDED)
    fee_seats = r * decided
    # An undecided miner's part of the pool is burned with its cap (3 committed: FORCED, HONEST, CHEATER).
    unearned = pool * (3 - decided) // 3
    pool -= unearned
    # VAL_B passed a caught forced miner (or a FAILED cheater): penalized; VAL_A is penalized only if the
    # lazy side passed the cheater.
    b_penalized = caught or cheater_outcome is Outcome.FAILED
    a_penalized = cheater_outcome is Outcome.PASSED
    share = {i: pool * seats[i] * decided // fee_seats for i in vals}
    if b_penalized:
        treasury += p.validator_bond * seats[VAL_B] + share[VAL_B]
    fee = {VAL_B: 0 if b_penalized else share[VAL_B]}
    jackpot = 0
    if a_penalized:
        treasury += p.validator_bond * seats[VAL_A] + share[VAL_A]
        fee[VAL_A] = 0
    else:
        fee[VAL_A] = share[VAL_A]
    # Both members settled: the rounding dust of the pool goes to the treasury (before VAL_A's jackpot).
    fee_dust = pool - share[VAL_A] - share[VAL_B]
    treasury += fee_dust
    if not a_penalized:
        jackpot = min(jackpot_eff * seats[VAL_A] // p.committee_seats, treasury) if caught else 0
        treasury -= jackpot

    states = {i: s.miner_state(task_id, addr[i]) for i in miners}
    assert states[FORCED].outcome is Outcome.FORCED and states[FORCED].forced
    assert states[HONEST].outcome is Outcome.PASSED and states[HONEST].score == honest_score
    assert states[CHEATER].outcome is cheater_outcome and states[CHEATER].slashed == slashed
    assert states[IDLE].outcome is Outcome.NO_COMMIT and states[IDLE].paid == 0
    assert states[IDLE].slashed == no_show
    for i in miners:
        assert states[i].paid == paid[i], i
        want_stake = MINER_STAKE - {CHEATER: slashed, IDLE: no_show}.get(i, 0)
        assert proposer.stakes.active_stake(addr[i], Role.MINER) == want_stake
        assert proposer.stakes.locked_stake(addr[i], Role.MINER) == 0
    totals = s.task_settlement(task_id)
    assert totals.finalized and totals.refund == refund and totals.revealed_seats == r
    assert totals.decisive_seat_votes == fee_seats and totals.slashed == slashed + no_show
    sa, sb = (s.validator_state(task_id, vals[i].address) for i in (VAL_A, VAL_B))
    assert sb.penalized == b_penalized and sa.penalized == a_penalized
    assert (sa.fee, sb.fee, sa.jackpot) == (fee[VAL_A], fee[VAL_B], jackpot)
    assert s.treasury() == treasury and s.fee_reserve() == 0
    assert s.burned() - burned_before == undecided + unearned
    for i in vals:
        penalized = b_penalized if i == VAL_B else a_penalized
        bond = p.validator_bond * seats[i] if penalized else 0
        assert proposer.stakes.active_stake(vals[i].address, Role.VALIDATOR) == val_stakes[i] - bond
        assert proposer.stakes.locked_stake(vals[i].address, Role.VALIDATOR) == 0

    # Pull payments.
    credits = {PROPOSER: refund, VAL_A: fee[VAL_A] + jackpot, VAL_B: fee[VAL_B]}
    credits.update({i: paid[i] for i in miners})
    for i, amount in credits.items():
        assert s.claimable(chain_for(i).address) == amount, i
        if amount:
            assert chain_for(i).settlement.claim() is not None
        assert chain_for(i).settlement.claim() is None  # nothing left

    # Every balance reconciles exactly; no token was created or destroyed.
    expected = dict(start)
    expected[proposer.address] += refund - params.reward
    for i in miners:
        expected[addr[i]] += paid[i] - MINER_STAKE
    for i in vals:
        expected[vals[i].address] += credits[i] - val_stakes[i]
    assert {a: token.balance_of(a) for a in everyone} == expected
    assert token.total_supply() == supply_before
    assert token.balance_of(s.address) == treasury + s.burned()  # burned tokens stay, movable by nothing
    assert token.balance_of(proposer.board.address) == 0

    # The follower saw the story in order, each event once.
    names = [e.name for e in follower.drain()]
    assert names.count("Joined") == 4 and names.count("Committed") == 3
    assert names.count("MinerSettled") == 4 and names.count("ValidatorSettled") == 2
    assert names.count("ForcedErrorRevealed") == 1 and names.count("VerdictRevealed") == 6
    assert names.index("TaskPosted") < names.index("Joined") < names.index("Committed")
    assert names.index("Committed") < names.index("VerdictCommitted") < names.index("TaskFinalized")
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
        chain_for(1).settlement.join(task_id, b"\x01" * 32, b"\x02" * 32)


def test_task_without_validators_pays_nothing_unverified(chain_for, clock, task_params, devnet_beacon):
    """NO_QUORUM: the miner that committed keeps its stake but is paid nothing (nobody verified its work: junk
    would be paid too, RedTeam H16); its cap and the fee nobody earned are burned (the proposer never gains
    from a missing committee, nor does the treasury that pays jackpots); the unfilled slots refund the proposer."""
    proposer, miner = chain_for(0), chain_for(1)
    s = proposer.settlement
    p = s.params()
    miner.stakes.stake(Role.MINER, 100 * RPT)
    params = task_params(reward=30 * RPT)
    task_id = proposer.board.post_task(params)
    miner.settlement.join(task_id, b"\x01" * 32, b"\x02" * 32)
    miner.settlement.commit(task_id, keccak(b"r"), params.num_problems * params.rollouts_per_problem)
    treasury_before, burned_before = s.treasury(), s.burned()
    clock.warp_to(params.verify_deadline + 1)
    task = proposer.board.get_task(task_id)
    proposer.beacon.record_beacon(*devnet_beacon.sign(task.challenge_round).onchain_args())
    miner.settlement.finalize(task_id)  # permissionless
    state = s.miner_state(task_id, miner.address)
    cap = s.miner_cap(task_id)
    base = cap * p.base_share_bps // BPS
    pool = params.reward * p.validator_fee_bps // BPS
    assert base > 0
    assert state.outcome is Outcome.NO_QUORUM and state.paid == 0
    assert s.claimable(proposer.address) == params.reward - pool - cap
    assert s.treasury() == treasury_before
    assert s.burned() - burned_before == cap + pool
    assert miner.stakes.active_stake(miner.address, Role.MINER) == 100 * RPT
    assert miner.stakes.locked_stake(miner.address, Role.MINER) == 0
