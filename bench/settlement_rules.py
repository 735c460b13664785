"""The Settlement v2 rules in Python integer arithmetic, exactly as the contracts compute them.

This module mirrors `Settlement.finalize` and `Settlement.settleValidator` (docs/PROTOCOL.md §2):
sortition seats, forced-error draws, per-miner outcomes, payouts, locks, slashes, bonds, jackpots
and the proposer's refund. Every division is Solidity's (floor on uint256), every rounding as in
the contract, so `tests/economics/test_differential.py` can compare it to the deployed contracts
to the wei. It knows nothing of the network or of models; `bench/economics.py` simulates on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum

from eth_abi import encode as abi_encode
from eth_utils import keccak

from chain.deploy import DeployParams

BPS = 10_000
SCORE_ONE = 1_000_000
TOKEN = 10**18


class Vote(IntEnum):
    """A committee member's vote on one miner (ISettlement.Vote)."""

    NONE = 0
    PASS = 1
    FAIL = 2
    UNAVAILABLE = 3


class Outcome(IntEnum):
    """A miner's outcome at finalize (ISettlement.Outcome)."""

    NONE = 0
    PASSED = 1
    FAILED = 2
    NO_QUORUM = 3
    UNDECIDED = 4
    FORCED = 5
    NO_COMMIT = 6


_DEPLOY = DeployParams()


@dataclass(frozen=True)
class Params:
    """Settlement deploy parameters (ISettlement.Params); defaults are the deployment defaults."""

    committee_seats: int = _DEPLOY.committee_seats
    quorum_bps: int = _DEPLOY.quorum_bps
    supermajority_bps: int = _DEPLOY.supermajority_bps
    validator_fee_bps: int = _DEPLOY.validator_fee_bps
    base_share_bps: int = _DEPLOY.base_share_bps
    deterrence_bps: int = _DEPLOY.deterrence_bps
    validator_bond: int = _DEPLOY.validator_bond  # per seat
    forced_error_odds: int = _DEPLOY.forced_error_odds
    jackpot: int = _DEPLOY.jackpot  # per seat


# ---- sortition and forced errors ------------------------------------------------------------------


def _uint(digest: bytes) -> int:
    return int.from_bytes(digest, "big")


def committee_seats(
    randomness: bytes, task_id: int, validator: str, stake: int, total_stake: int, seats: int
) -> int:
    """`#{i < C : uint256(keccak256(abi.encode(r, taskId, v, i))) % T < s_v}` (sortition by stake)."""
    if stake == 0 or total_stake == 0:
        return 0
    # abi.encode(bytes32, uint256, address, uint256): four 32-byte words.
    prefix = randomness + task_id.to_bytes(32, "big") + bytes.fromhex(validator[2:]).rjust(32, b"\0")
    won = 0
    for i in range(seats):
        lot = _uint(keccak(prefix + i.to_bytes(32, "big"))) % total_stake
        won += lot < stake
    return won


def forced_error_commit(task_id: int, miner: str, secret: bytes) -> bytes:
    """`keccak256(abi.encode(taskId, miner, secret))`: what a miner commits to at join."""
    return keccak(abi_encode(["uint256", "address", "bytes32"], [task_id, miner, secret]))


def is_forced(secret: bytes, seed_randomness: bytes, odds: int) -> bool:
    """The miner must commit the prescribed wrong commitment on this task."""
    return _uint(keccak(secret + seed_randomness)) % odds == 0  # abi.encode(bytes32, bytes32)


# ---- amounts ----------------------------------------------------------------------------------------


def pools(reward: int, params: Params) -> tuple[int, int]:
    """(minerPool, validatorPool) of an escrow."""
    validator_pool = reward * params.validator_fee_bps // BPS
    return reward - validator_pool, validator_pool


def miner_cap(reward: int, max_miners: int, params: Params) -> int:
    """The largest payout of one miner: minerPool / maxMiners."""
    return pools(reward, params)[0] // max_miners


def miner_lock(reward: int, max_miners: int, params: Params) -> int:
    """Miner stake locked at join: deterrence x cap."""
    return miner_cap(reward, max_miners, params) * params.deterrence_bps // BPS


def miner_payment(cap: int, score: int, params: Params) -> int:
    """`cap * (base + (1e4 - base) * score / 1e6) / 1e4` (a passed or forced miner)."""
    return (
        cap * (params.base_share_bps * SCORE_ONE + (BPS - params.base_share_bps) * score) // (BPS * SCORE_ONE)
    )


def decide(
    forced: bool, fail: int, passed: int, revealed: int, params: Params, fraud: bool = False
) -> Outcome:
    """`Settlement._outcome`: a committed miner's outcome from its seat tallies; R = revealed seats."""
    if fraud:
        return Outcome.FAILED  # a proven contradiction needs no vote and outranks a forced error
    if forced:
        return Outcome.FORCED
    if revealed * BPS < params.quorum_bps * params.committee_seats:
        return Outcome.NO_QUORUM
    if fail * BPS >= params.supermajority_bps * revealed:
        return Outcome.FAILED
    if passed * BPS >= params.supermajority_bps * revealed:
        return Outcome.PASSED
    return Outcome.UNDECIDED


def forced_caught(fail: int, revealed: int, params: Params) -> bool:
    """`Settlement._forcedCaught`: the FAIL side on a forced miner exceeds what a minority could muster."""
    return fail * BPS > (BPS - params.supermajority_bps) * revealed


# ---- one task ---------------------------------------------------------------------------------------


@dataclass
class Treasury:
    """The contract-wide balances that carry from task to task."""

    balance: int = 0
    fee_reserve: int = 0


@dataclass
class MinerInput:
    address: str
    committed: bool = True
    forced: bool = False  # revealForcedError succeeded
    fraud: bool = False  # proveFraud succeeded (a committed leaf contradicts the task)


@dataclass
class ValidatorInput:
    address: str
    seats: int
    revealed: bool = True
    votes: dict[str, tuple[Vote, int]] = field(default_factory=dict)  # miner -> (vote, score)


@dataclass
class Tally:
    pass_seats: int = 0
    fail_seats: int = 0
    unavailable_seats: int = 0
    pass_score_seats: int = 0
    fail_score_seats: int = 0


@dataclass
class MinerResult:
    outcome: Outcome
    score: int
    paid: int  # credited, including the obedience jackpot of a caught forced miner
    slashed: int
    locked: int
    bonus: int = 0  # the obedience jackpot inside `paid`
    bounty: int = 0  # paid to the fraud prover out of `slashed`


@dataclass
class ValidatorResult:
    penalized: bool
    fee: int
    jackpot: int
    forfeited: int
    bond: int


@dataclass
class TaskResult:
    miners: dict[str, MinerResult]
    validators: dict[str, ValidatorResult]
    refund: int  # credited to the proposer at finalize
    slashed: int
    revealed_seats: int
    decisive_seat_votes: int  # PASS and FAIL seats on decided miners: the fee denominator
    cap: int
    lock: int


def tallies(miners: Sequence[MinerInput], validators: Sequence[ValidatorInput]) -> dict[str, Tally]:
    """What revealVerdict accumulates per miner."""
    out = {m.address: Tally() for m in miners}
    for v in validators:
        if not v.revealed:
            continue
        for miner, (vote, score) in v.votes.items():
            t = out[miner]
            if vote == Vote.PASS:
                t.pass_seats += v.seats
                t.pass_score_seats += v.seats * score
            elif vote == Vote.FAIL:
                t.fail_seats += v.seats
                t.fail_score_seats += v.seats * score
            elif vote == Vote.UNAVAILABLE:
                t.unavailable_seats += v.seats
    return out


def score_of(outcome: Outcome, t: Tally) -> int:
    """`Settlement._scoreOf`."""
    if outcome == Outcome.PASSED:
        return t.pass_score_seats // t.pass_seats
    if outcome == Outcome.FORCED:
        if t.fail_seats:
            return t.fail_score_seats // t.fail_seats
        if t.pass_seats:
            return t.pass_score_seats // t.pass_seats
    return 0


DECIDED = (Outcome.PASSED, Outcome.FAILED, Outcome.FORCED)


def settle_task(
    params: Params,
    reward: int,
    max_miners: int,
    miners: Sequence[MinerInput],
    validators: Sequence[ValidatorInput],
    treasury: Treasury | None = None,
    burn_undecided: bool = False,
) -> TaskResult:
    """finalize, then settleValidator for every committee member in `validators` order.

    `miners` are in join order, `validators` are the members that committed a verdict (each
    locked `validatorBond x seats`); `treasury` is updated in place (jackpots depend on it).
    `burn_undecided` is a counterfactual, not the contract: what undecided miners' caps leave and
    unearned fees leave the system instead of funding the treasury's jackpots.
    """
    tre = treasury if treasury is not None else Treasury()
    miner_pool, validator_pool = pools(reward, params)
    cap = miner_pool // max_miners
    lock = cap * params.deterrence_bps // BPS
    tally = tallies(miners, validators)
    r = sum(v.seats for v in validators if v.revealed)
    # finalize: _decideMiners
    results: dict[str, MinerResult] = {}
    paid_total = slashed_total = undecided = fee_seats = bounties = 0
    for m in miners:
        if not m.committed:
            results[m.address] = MinerResult(Outcome.NO_COMMIT, 0, 0, 0, lock)
            continue
        t = tally[m.address]
        outcome = decide(m.forced, t.fail_seats, t.pass_seats, r, params, m.fraud)
        if outcome in DECIDED:
            fee_seats += t.pass_seats + t.fail_seats
        if outcome == Outcome.FAILED:
            bounty = min(lock // 2, params.jackpot) if m.fraud else 0
            results[m.address] = MinerResult(outcome, 0, 0, lock, lock, bounty=bounty)
            slashed_total += lock
            bounties += bounty
            continue
        score = score_of(outcome, t)
        paid = miner_payment(cap, score, params)
        paid_total += paid
        if outcome not in DECIDED:
            undecided += cap - paid  # to the treasury: a proposer never gains from a blocked decision
        bonus = 0
        if outcome == Outcome.FORCED and forced_caught(t.fail_seats, r, params):
            bonus = min(params.jackpot // params.committee_seats, tre.balance)  # one seat's share
            tre.balance -= bonus
        results[m.address] = MinerResult(outcome, score, paid + bonus, 0, lock, bonus)
    tre.balance += slashed_total - bounties
    refund = miner_pool - paid_total - undecided
    to_treasury = undecided
    if fee_seats:
        tre.fee_reserve += validator_pool
    elif not any(m.committed for m in miners):
        refund += validator_pool  # nothing committed: nothing to audit or to block
    else:
        to_treasury += validator_pool
    if not burn_undecided:
        tre.balance += to_treasury
    # settleValidator, one member at a time
    vres: dict[str, ValidatorResult] = {}
    for v in validators:
        bond = params.validator_bond * v.seats
        penalized, decided, forced_fails = judge(v, results, tally, r, params) if v.revealed else (True, 0, 0)
        share = 0 if fee_seats == 0 else validator_pool * v.seats * decided // fee_seats
        tre.fee_reserve -= share
        if penalized:
            tre.balance += bond + share
            vres[v.address] = ValidatorResult(True, 0, 0, bond, bond)
        else:
            # One jackpot per caught forced miner, split by seats.
            won = min(params.jackpot * v.seats * forced_fails // params.committee_seats, tre.balance)
            tre.balance -= won
            vres[v.address] = ValidatorResult(False, share, won, 0, bond)
    return TaskResult(results, vres, refund, slashed_total, r, fee_seats, cap, lock)


def judge(
    v: ValidatorInput, results: dict[str, MinerResult], tally: dict[str, Tally], r: int, params: Params
) -> tuple[bool, int, int]:
    """`Settlement._judge`: (penalized, PASS/FAIL votes on decided miners, FAIL votes on FORCED miners)."""
    penalized = False
    decided = forced_fails = 0
    for miner, res in results.items():  # join order, as the contract walks _miners
        if miner not in v.votes:
            continue
        vote = v.votes[miner][0]
        if vote in (Vote.NONE, Vote.UNAVAILABLE) or res.outcome not in DECIDED:
            continue
        decided += 1
        if vote == Vote.PASS:
            if res.outcome == Outcome.FAILED:
                penalized = True
            if res.outcome == Outcome.FORCED and forced_caught(tally[miner].fail_seats, r, params):
                penalized = True
        else:
            if res.outcome == Outcome.PASSED:
                penalized = True
            if res.outcome == Outcome.FORCED:
                forced_fails += 1
    return penalized, decided, forced_fails
