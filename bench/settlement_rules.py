"""The Settlement v2 rules in Python integer arithmetic, exactly as the contracts compute them.

This module mirrors `Settlement.finalize` and `Settlement.settleValidator` (docs/PROTOCOL.md §2):
sortition seats, forced-error draws, per-miner outcomes, payouts, locks, slashes, bonds, jackpots
and the proposer's refund. Every division is Solidity's (floor on uint256), every rounding as in
the contract, so `tests/economics/test_differential.py` can compare it to the deployed contracts
to the wei. It knows nothing of the network or of models; `bench/economics.py` simulates on it.

Over 400 lines for a reason: it mirrors two contract functions line for line, so that the
differential test can name the line that disagrees; splitting it would split that mirror.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from eth_abi import encode as abi_encode
from eth_utils import keccak

from chain.clients import Check, Outcome, Ruling, Vote
from chain.deploy import DeployParams

BPS = 10_000
SCORE_ONE = 1_000_000
TOKEN = 10**18


# Vote, Check and Outcome are the ABI's enums (ISettlement), shared with the chain client.


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
    juror_fee_bps: int = _DEPLOY.juror_fee_bps  # Disputes.Params: the winning jurors' part of a deposit


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
    """`mulDiv(cap, base x 1e6 + (1e4 - base) x score, 1e4 x 1e6)` (a paid PASSED or FORCED miner).

    Math.mulDiv floors the full-width product, which is what Python's // on big integers does."""
    return (
        cap * (params.base_share_bps * SCORE_ONE + (BPS - params.base_share_bps) * score) // (BPS * SCORE_ONE)
    )


def has_quorum(revealed: int, params: Params) -> bool:
    """`Settlement._hasQuorum`: the revealed seats reach the quorum of the committee's seats."""
    return revealed * BPS >= params.quorum_bps * params.committee_seats


def voted_fail(fail: int, revealed: int, params: Params) -> bool:
    """`Settlement._votedFail`: the revealed votes alone make a FAIL supermajority (with a quorum)."""
    return has_quorum(revealed, params) and fail * BPS >= params.supermajority_bps * revealed


def voted_pass(passed: int, revealed: int, params: Params) -> bool:
    """`Settlement._votedPass`: the revealed votes make a PASS supermajority (with a quorum)."""
    return has_quorum(revealed, params) and passed * BPS >= params.supermajority_bps * revealed


def contested(fail: int, passed: int, revealed: int, params: Params) -> bool:
    """`Disputes._contested`: the miner may dispute its votes: a quorum revealed, some FAIL vote, and no
    PASS supermajority (FAILED, or UNDECIDED with a FAIL; PROTOCOL.md §2.10)."""
    return has_quorum(revealed, params) and fail > 0 and passed * BPS < params.supermajority_bps * revealed


def decide(
    forced: bool,
    fail: int,
    passed: int,
    revealed: int,
    params: Params,
    fraud: bool = False,
    ruling: Ruling = Ruling.NONE,
) -> Outcome:
    """`Settlement._outcome`: a committed miner's outcome from its seat tallies; R = revealed seats.
    A jury's ruling (recorded by Disputes) comes after a fraud proof and a forced error: OVERTURNED is
    PASSED, UPHELD is FAILED (also for a miner the votes left UNDECIDED), UNRESOLVED is UNDECIDED."""
    if fraud:
        return Outcome.FAILED  # a proven contradiction needs no vote and outranks a forced error
    if forced:
        return Outcome.FORCED
    if ruling == Ruling.OVERTURNED:
        return Outcome.PASSED
    if ruling == Ruling.UPHELD:
        return Outcome.FAILED
    if ruling == Ruling.UNRESOLVED:
        return Outcome.UNDECIDED
    if not has_quorum(revealed, params):
        return Outcome.NO_QUORUM
    if voted_fail(fail, revealed, params):
        return Outcome.FAILED
    if voted_pass(passed, revealed, params):
        return Outcome.PASSED
    return Outcome.UNDECIDED


@dataclass(frozen=True)
class DisputeResult:
    """`Disputes.resolve` and `settleJuror`: the ruling and where the deposit went."""

    ruling: Ruling
    fee_per_seat: int
    returned: int  # to the miner
    to_treasury: int
    jurors: dict[str, int]  # juror -> what settleJuror pays back (bond and fee), 0 when penalized
    forfeited: int  # jurors' bonds to the treasury


def rule(revealed: int, uphold: int, overturn: int, params: Params, fraud: bool = False) -> Ruling:
    """`Disputes._rule`: a quorum of the 2C lots, then a supermajority of the revealed seats; a fraud
    proof accepted meanwhile upholds."""
    if fraud:
        return Ruling.UPHELD
    if revealed * BPS < params.quorum_bps * 2 * params.committee_seats:
        return Ruling.UNRESOLVED
    if overturn * BPS >= params.supermajority_bps * revealed:
        return Ruling.OVERTURNED
    if uphold * BPS >= params.supermajority_bps * revealed:
        return Ruling.UPHELD
    return Ruling.UNRESOLVED


def resolve_dispute(
    deposit: int, jurors: Sequence[tuple[str, int, bool | None]], params: Params, fraud: bool = False
) -> DisputeResult:
    """A dispute from its deposit and its jurors (address, seats, revealed ruling: True = overturn,
    None = never revealed), through resolve and every settleJuror."""
    revealed = sum(seats for _, seats, vote in jurors if vote is not None)
    overturn = sum(seats for _, seats, vote in jurors if vote is True)
    uphold = sum(seats for _, seats, vote in jurors if vote is False)
    ruling = rule(revealed, uphold, overturn, params, fraud)
    winning = overturn if ruling == Ruling.OVERTURNED else uphold if ruling == Ruling.UPHELD else 0
    fee = deposit * params.juror_fee_bps // BPS if winning else 0
    per_seat = fee // winning if winning else 0
    returned = 0 if ruling == Ruling.UPHELD else deposit - fee
    to_treasury = deposit - per_seat * winning - returned
    ruled = ruling in (Ruling.UPHELD, Ruling.OVERTURNED)
    paid: dict[str, int] = {}
    forfeited = 0
    for juror, seats, vote in jurors:
        bond = params.validator_bond * seats
        winner = ruled and vote is not None and vote == (ruling == Ruling.OVERTURNED)
        if vote is None or (ruled and not winner):
            paid[juror] = 0
            forfeited += bond
        else:
            paid[juror] = bond + (per_seat * seats if winner else 0)
    return DisputeResult(ruling, per_seat, returned, to_treasury, paid, forfeited)


def forced_caught(logprob_fail: int, revealed: int, params: Params) -> bool:
    """`Settlement._forcedCaught`: with a quorum, the FAIL seats naming LOGPROB (a forced error's only
    symptom) exceed what a coalition below the supermajority's complement could muster."""
    return has_quorum(revealed, params) and logprob_fail * BPS > (BPS - params.supermajority_bps) * revealed


def jackpot_of(cap: int, params: Params) -> int:
    """`Settlement._jackpotOf`: the jackpot per caught forced miner, at most the task's per-miner cap."""
    return min(cap, params.jackpot)


def no_show_penalty(cap: int, params: Params) -> int:
    """`Settlement._noShowPenalty`: what a NO_COMMIT miner forfeits of its lock (the base share)."""
    return cap * params.base_share_bps // BPS


# ---- one task ---------------------------------------------------------------------------------------


@dataclass
class Treasury:
    """The contract-wide balances that carry from task to task."""

    balance: int = 0
    fee_reserve: int = 0
    burned: int = 0  # blocked miners' caps and unearned fees: out of reach of the treasury and the proposer


@dataclass
class MinerInput:
    address: str
    committed: bool = True
    forced: bool = False  # revealForcedError succeeded
    fraud: bool = False  # proveFraud succeeded (a committed leaf contradicts the task)
    ruling: Ruling = Ruling.NONE  # a jury's ruling on its disputed FAIL (PROTOCOL.md §2.10)
    ruling_score: int = 0  # the jury's score, what an OVERTURNED miner is paid on


@dataclass
class ValidatorInput:
    address: str
    seats: int
    revealed: bool = True
    # miner -> (vote, score, check); a FAIL names its check, PASS and UNAVAILABLE name Check.NONE
    votes: dict[str, tuple[Vote, int, Check]] = field(default_factory=dict)


# ---- the jury's lottery (PROTOCOL.md §2.10) ---------------------------------------------------------------


def _word(address: str) -> bytes:
    return bytes.fromhex(address[2:]).rjust(32, b"\0")


def juror_seats(
    randomness: bytes,
    task_id: int,
    miner: str,
    juror: str,
    stake: int,
    jury_total: int,
    lots: int,
    excluded: bool,
) -> int:
    """`Disputes._seatsOf`: `#{i < 2C : uint256(keccak256(abi.encode(r, taskId, miner, juror, i))) % T < s}`
    with T the total validator stake at the verify deadline; 0 for an `excluded` juror (one of the task's miners).
    Every other validator sits by its stake, whatever it voted in the first committee."""
    if excluded or stake == 0:
        return 0
    prefix = randomness + task_id.to_bytes(32, "big") + _word(miner) + _word(juror)
    return sum(_uint(keccak(prefix + i.to_bytes(32, "big"))) % jury_total < stake for i in range(lots))


@dataclass
class ScoreMode:
    """`Settlement._countScore`: the seat-weighted mode of a stream of (score, seats), in reveal order.

    A tie keeps the score that reached the count first; a demoted mode keeps its count."""

    score: int = 0
    seats: int = 0
    others: dict[int, int] = field(default_factory=dict)

    def add(self, score: int, seats: int) -> None:
        if self.seats == 0 or score == self.score:
            self.score = score
            self.seats += seats
            return
        count = self.others.get(score, 0) + seats
        if count > self.seats:
            self.others[self.score] = self.seats
            self.score = score
            self.seats = count
        else:
            self.others[score] = count


@dataclass
class Tally:
    pass_seats: int = 0
    fail_seats: int = 0
    unavailable_seats: int = 0
    pass_score_seats: int = 0
    fail_score_seats: int = 0
    logprob_fail_seats: int = 0
    pass_mode: ScoreMode = field(default_factory=ScoreMode)  # what a PASSED miner is paid on
    fail_mode: ScoreMode = field(default_factory=ScoreMode)  # of the LOGPROB FAILs: a caught forced miner


@dataclass
class MinerResult:
    outcome: Outcome
    score: int
    paid: int  # credited, including the obedience jackpot of a caught forced miner
    slashed: int
    locked: int
    bonus: int = 0  # the obedience bonus inside `paid` (out of the task's validator pool)
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


def tallies(
    miners: Sequence[MinerInput],
    validators: Sequence[ValidatorInput],
    reveal_order: Sequence[str] | None = None,
) -> dict[str, Tally]:
    """What revealVerdict accumulates per miner. The score modes depend on the order of the reveals
    (a tie keeps the first): `reveal_order` lists the members' addresses in that order (default:
    `validators` order); within one reveal, verdicts count in the order the member listed them."""
    out = {m.address: Tally() for m in miners}
    by_address = {v.address: v for v in validators}
    order = reveal_order if reveal_order is not None else [v.address for v in validators]
    for address in order:
        v = by_address[address]
        if not v.revealed:
            continue
        for miner, (vote, score, check) in v.votes.items():
            t = out[miner]
            if vote == Vote.PASS:
                t.pass_seats += v.seats
                t.pass_score_seats += v.seats * score
                t.pass_mode.add(score, v.seats)
            elif vote == Vote.FAIL:
                t.fail_seats += v.seats
                t.fail_score_seats += v.seats * score
                if check == Check.LOGPROB:
                    t.logprob_fail_seats += v.seats
                    t.fail_mode.add(score, v.seats)
            elif vote == Vote.UNAVAILABLE:
                t.unavailable_seats += v.seats
    return out


def score_of(
    outcome: Outcome, t: Tally, revealed: int, params: Params, overturned_score: int | None = None
) -> tuple[bool, int]:
    """`Settlement._scoreOf`: (paid?, score). PASSED: the PASS mode (the jury's score when a jury
    overturned its FAIL). FORCED and caught: the LOGPROB FAIL mode; FORCED, not caught, passed by a
    supermajority: the PASS mode; any other FORCED miner, NO_QUORUM and UNDECIDED: nothing (nobody
    verified the work)."""
    if outcome == Outcome.PASSED:
        return True, t.pass_mode.score if overturned_score is None else overturned_score
    if outcome == Outcome.FORCED:
        if forced_caught(t.logprob_fail_seats, revealed, params):
            return True, t.fail_mode.score
        if voted_pass(t.pass_seats, revealed, params):
            return True, t.pass_mode.score
    return False, 0


DECIDED = (Outcome.PASSED, Outcome.FAILED, Outcome.FORCED)


def settle_task(
    params: Params,
    reward: int,
    max_miners: int,
    miners: Sequence[MinerInput],
    validators: Sequence[ValidatorInput],
    treasury: Treasury | None = None,
    reveal_order: Sequence[str] | None = None,
) -> TaskResult:
    """finalize, then settleValidator for every committee member in `validators` order.

    `miners` are in join order, `validators` are the members that committed a verdict (each
    locked `validatorBond x seats`); `reveal_order` is the order their verdicts were revealed
    (default: `validators` order; it decides ties of the score modes); `treasury` is updated in
    place (jackpots depend on it), and so is its `burned` total: undecided miners' caps and fees
    nobody earned are burned, neither refunded (a proposer would gain from a block) nor paid into the
    treasury (the blocking seats would win them back as jackpots).
    """
    tre = treasury if treasury is not None else Treasury()
    miner_pool, validator_pool = pools(reward, params)
    cap = miner_pool // max_miners
    lock = cap * params.deterrence_bps // BPS
    tally = tallies(miners, validators, reveal_order)
    r = sum(v.seats for v in validators if v.revealed)
    # finalize: _decideMiners
    no_show = no_show_penalty(cap, params)
    # The obedience bonus comes out of the task's own validator pool, at most its per-slot part.
    bonus_each = min(jackpot_of(cap, params) // params.committee_seats, validator_pool // max_miners)
    results: dict[str, MinerResult] = {}
    paid_total = slashed_total = undecided = undecided_miners = fee_seats = bounties = bonuses = 0
    for m in miners:
        if not m.committed:
            penalty = min(no_show, lock)  # a slot held without a commitment kept an honest miner out
            results[m.address] = MinerResult(Outcome.NO_COMMIT, 0, 0, penalty, lock)
            slashed_total += penalty
            continue
        t = tally[m.address]
        outcome = decide(m.forced, t.fail_seats, t.pass_seats, r, params, m.fraud, m.ruling)
        if outcome in DECIDED:
            fee_seats += t.pass_seats + t.fail_seats
        if outcome == Outcome.FAILED:
            bounty = min(lock // 2, params.jackpot) if m.fraud else 0
            results[m.address] = MinerResult(outcome, 0, 0, lock, lock, bounty=bounty)
            slashed_total += lock
            bounties += bounty
            continue
        overturned = m.ruling_score if m.ruling == Ruling.OVERTURNED and not (m.fraud or m.forced) else None
        payable, score = score_of(outcome, t, r, params, overturned)
        paid = miner_payment(cap, score, params) if payable else 0
        paid_total += paid
        if outcome not in DECIDED:
            undecided += cap  # burned: neither the proposer nor the blockers gain from a blocked decision
            undecided_miners += 1
        bonus = 0
        if outcome == Outcome.FORCED and forced_caught(t.logprob_fail_seats, r, params):
            bonus = bonus_each
            bonuses += bonus
        results[m.address] = MinerResult(outcome, score, paid + bonus, 0, lock, bonus)
    validator_pool -= bonuses
    tre.balance += slashed_total - bounties
    refund = miner_pool - paid_total - undecided
    to_burn = undecided
    fee_left = 0
    if fee_seats:
        # The pool's part of each undecided miner is burned too: a block costs the blockers their fee on it.
        unearned = validator_pool * undecided_miners // sum(1 for m in miners if m.committed)
        validator_pool -= unearned
        to_burn += unearned
        tre.fee_reserve += validator_pool
        fee_left = validator_pool
    elif not any(m.committed for m in miners):
        refund += validator_pool  # nothing committed: nothing to audit or to block
    else:
        to_burn += validator_pool
    tre.burned += to_burn
    # settleValidator, one member at a time
    jury_failed = {m.address for m in miners if m.ruling == Ruling.UPHELD and not m.fraud}
    vres: dict[str, ValidatorResult] = {}
    for i, v in enumerate(validators):
        bond = params.validator_bond * v.seats
        penalized, decided, forced_fails = (
            judge(v, results, tally, r, params, jury_failed) if v.revealed else (True, 0, 0)
        )
        share = 0 if fee_seats == 0 else validator_pool * v.seats * decided // fee_seats
        tre.fee_reserve -= share
        fee_left -= share
        if i == len(validators) - 1 and fee_left:
            # The last committed member settled: the pool's rounding dust goes to the treasury.
            tre.fee_reserve -= fee_left
            tre.balance += fee_left
            fee_left = 0
        if penalized:
            tre.balance += bond + share
            vres[v.address] = ValidatorResult(True, 0, 0, bond, bond)
        else:
            # One jackpot (at most the cap) per caught forced miner, split by seats.
            won = min(jackpot_of(cap, params) * v.seats * forced_fails // params.committee_seats, tre.balance)
            tre.balance -= won
            vres[v.address] = ValidatorResult(False, share, won, 0, bond)
    return TaskResult(results, vres, refund, slashed_total, r, fee_seats, cap, lock)


def judge(
    v: ValidatorInput,
    results: dict[str, MinerResult],
    tally: dict[str, Tally],
    r: int,
    params: Params,
    jury_failed: set[str] = frozenset(),
) -> tuple[bool, int, int]:
    """`Settlement._judge`: (penalized, PASS/FAIL votes on decided miners, FAIL votes on caught FORCED
    miners). A PASS is wrong on a miner the votes or a jury (`jury_failed`: UPHELD, no fraud proof) FAILED
    (not one only a fraud proof failed) or on a caught forced miner; a FAIL is wrong on a PASSED miner; a
    FAIL on an uncaught forced miner is neither paid nor penalized."""
    penalized = False
    decided = forced_fails = 0
    for miner, res in results.items():  # join order, as the contract walks _miners
        if miner not in v.votes:
            continue
        vote = v.votes[miner][0]
        if vote in (Vote.NONE, Vote.UNAVAILABLE) or res.outcome not in DECIDED:
            continue
        decided += 1
        t = tally[miner]
        caught = res.outcome == Outcome.FORCED and forced_caught(t.logprob_fail_seats, r, params)
        if vote == Vote.PASS:
            failed = res.outcome == Outcome.FAILED
            if caught or (failed and (voted_fail(t.fail_seats, r, params) or miner in jury_failed)):
                penalized = True
        else:
            if res.outcome == Outcome.PASSED:
                penalized = True
            if caught:
                forced_fails += 1
    return penalized, decided, forced_fails
