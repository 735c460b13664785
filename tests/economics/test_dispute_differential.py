"""Disputes (PROTOCOL.md §2.10): the economics rules (`bench.settlement_rules.resolve_dispute`, `contested`,
`juror_seats` and `settle_task` with the ruling) against the deployed contracts on Anvil, to the wei. A coalition
FAILs a miner: holding the whole first committee (FAILED), or half of it against an honest validator as large
that PASSes (UNDECIDED: the framing that used to cost nothing); the miner disputes; a jury drawn from every
validator but the task's miners, accusers included (checked seat for seat against the mirror), rules OVERTURNED
(one juror dissents and does not reveal), UPHELD, or not at all (UNRESOLVED)."""

from __future__ import annotations

import secrets
from dataclasses import replace

import pytest

from bench.settlement_rules import (
    MinerInput,
    Outcome,
    Params,
    Ruling,
    Treasury,
    ValidatorInput,
    Vote,
    contested,
    decide,
    juror_seats,
    resolve_dispute,
    settle_task,
)
from chain.clients import Chain, Check, Role, Verdict, forced_error_commitment
from chain.deploy import deploy_all
from chain.tx import make_web3

RPT = 10**18
PROPOSER, TARGET, OTHER, COALITION, BIG = 0, 1, 2, 3, 4
HONEST = range(4, 10)  # BIG and the small honest validators
SMALL = range(5, 10)
SCORE = 650_000


def _verdict(miner: str, fail: bool) -> Verdict:
    if fail:
        return Verdict(miner, Vote.FAIL, 0, 2, 1, 4, Check.TOKEN)
    return Verdict(miner, Vote.PASS, SCORE, 2, 0, 0, Check.NONE)


def _jury_seats_match_the_mirror(owner, addr, task_id, params, round_, members, votes, p) -> dict[int, int]:
    """Every validator's seats on the target's jury, `Disputes.jurorSeats` against `juror_seats`, out of all
    validator stake at the verify deadline: the first committee's members, accusers included, sit like everyone
    else; the task's miners hold none."""
    at = params.verify_deadline
    stakes = {addr[v]: owner.stakes.validator_stake_at(addr[v], at) for v in (COALITION, *HONEST)}
    total = owner.stakes.total_validator_stake_at(at)
    randomness = owner.beacon.randomness(round_)
    seats = {}
    for v in (COALITION, *HONEST):
        seats[v] = owner.disputes.juror_seats(task_id, addr[TARGET], addr[v])
        mirror = juror_seats(
            randomness,
            task_id,
            addr[TARGET],
            addr[v],
            stakes[addr[v]],
            total,
            2 * p.committee_seats,
            False,
        )
        assert seats[v] == mirror, f"validator {v}"
    for m in (TARGET, OTHER):
        assert owner.disputes.juror_seats(task_id, addr[TARGET], addr[m]) == 0, "nor does a miner"
    return seats


@pytest.mark.parametrize("first", [Outcome.FAILED, Outcome.UNDECIDED])
@pytest.mark.parametrize("ruling", [Ruling.OVERTURNED, Ruling.UPHELD, Ruling.UNRESOLVED])
def test_dispute_rules_match_contracts(
    anvil, accounts, beacon_config, devnet_beacon, deploy_params, task_params, ruling, first
):
    deploy = replace(deploy_params, forced_error_odds=10**9)
    p = Params(forced_error_odds=deploy.forced_error_odds)
    deployment = deploy_all(make_web3(anvil.rpc_url), accounts[0], beacon_config, deploy)
    chains = {i: Chain.connect(anvil.rpc_url, deployment, accounts[i]) for i in range(len(accounts))}
    owner, addr = chains[PROPOSER], {i: accounts[i].address for i in range(len(accounts))}
    for i in range(len(accounts)):
        owner.token.mint(addr[i], 10_000 * RPT)
    # FAILED: the coalition holds 99 % of the validator stake, hence the first committee. UNDECIDED: it holds
    # half, and an honest validator as large (BIG) PASSes. The small honest validators are drawn on the first
    # committee with probability 0.1 each and otherwise form the jury.
    big = first == Outcome.UNDECIDED
    coalition_stake = 300_000 * RPT if big else 600_000 * RPT
    owner.token.mint(addr[COALITION], coalition_stake)
    chains[COALITION].stakes.stake(Role.VALIDATOR, coalition_stake)
    if big:
        owner.token.mint(addr[BIG], 300_000 * RPT)
        chains[BIG].stakes.stake(Role.VALIDATOR, 300_000 * RPT)
    for i in SMALL:
        chains[i].stakes.stake(Role.VALIDATOR, 1_000 * RPT)
    params = task_params(step=60, reward=400 * RPT, max_miners=4)
    task_id = owner.board.post_task(params)
    task = owner.board.get_task(task_id)
    for m in (TARGET, OTHER):
        chains[m].stakes.stake(Role.MINER, 300 * RPT)
        chains[m].settlement.join(
            task_id, b"\x01" * 32, forced_error_commitment(task_id, addr[m], b"\x02" * 32)
        )
        chains[m].settlement.commit(task_id, secrets.token_bytes(32), 4)

    anvil.warp_to(params.commit_deadline + 1)
    anvil.warp_to(max(anvil.timestamp(), owner.board.round_time(task.challenge_round)))
    owner.beacon.record_beacon(*devnet_beacon.sign(task.challenge_round).onchain_args())
    members = [i for i in (COALITION, *HONEST) if owner.settlement.committee_seats(task_id, addr[i])]
    # The target cheated when the jury will uphold: the honest members fail it then and pass it otherwise. The
    # coalition fails it (FAILED), or votes against the honest side (UNDECIDED: it frames an honest miner, or
    # passes its cheater).
    cheats = ruling == Ruling.UPHELD
    votes = {
        v: [
            _verdict(addr[TARGET], (not cheats if big else True) if v == COALITION else cheats),
            _verdict(addr[OTHER], False),
        ]
        for v in members
    }
    salt = secrets.token_bytes(32)
    for v in members:
        chains[v].settlement.commit_verdict(task_id, votes[v], salt)
    anvil.warp_to(params.verdict_deadline + 1)
    for v in members:
        chains[v].settlement.reveal_verdict(task_id, votes[v], salt)

    # The votes contest the target: FAILED, or (a coalition of half the seats framing it) UNDECIDED.
    seats_of = {v: owner.settlement.committee_seats(task_id, addr[v]) for v in members}
    tally = owner.settlement.tally_of(task_id, addr[TARGET])
    revealed = sum(seats_of.values())
    assert tally.fail_seats == sum(seats_of[v] for v in members if votes[v][0].vote == Vote.FAIL)
    by_votes = decide(False, tally.fail_seats, tally.pass_seats, revealed, p)
    assert by_votes == first, f"seats {seats_of}"
    assert contested(tally.fail_seats, tally.pass_seats, revealed, p)

    anvil.warp_to(params.verify_deadline + 1)
    deposit = owner.settlement.miner_state(task_id, addr[TARGET]).locked
    chains[TARGET].disputes.dispute(task_id)
    windows = owner.disputes.windows(task_id)
    anvil.warp_to(max(windows.dispute_deadline + 1, owner.board.round_time(windows.round)))
    owner.beacon.record_beacon(*devnet_beacon.sign(windows.round).onchain_args())
    seats = _jury_seats_match_the_mirror(owner, addr, task_id, params, windows.round, members, votes, p)
    jury = [j for j in seats if seats[j]]
    assert jury, "a jury forms"
    # UPHELD: every juror upholds; UNRESOLVED: nobody reveals; OVERTURNED: the smallest juror dissents
    # and the next smallest never reveals, as far as the overturn keeps its quorum and supermajority
    # (Disputes.t.sol covers both penalties deterministically).
    ruled: dict[int, bool | None] = {
        j: None if ruling == Ruling.UNRESOLVED else ruling == Ruling.OVERTURNED for j in jury
    }
    if ruling == Ruling.OVERTURNED:
        smallest = sorted(jury, key=lambda j: seats[j])
        for j, deviation in zip(smallest, (False, None), strict=False):
            trial = {**ruled, j: deviation}
            if resolve_dispute(deposit, [(addr[k], seats[k], trial[k]) for k in jury], p).ruling == ruling:
                ruled = trial
    for j in jury:
        overturn = ruled[j] if ruled[j] is not None else ruling == Ruling.OVERTURNED
        chains[j].disputes.commit_ruling(task_id, addr[TARGET], overturn, SCORE, salt)
    anvil.warp_to(windows.commit_deadline + 1)
    for j in jury:
        if ruled[j] is not None:
            chains[j].disputes.reveal_ruling(task_id, addr[TARGET], bool(ruled[j]), SCORE, salt)
    anvil.warp_to(windows.reveal_deadline + 1)

    # resolve and settleJuror against resolve_dispute.
    want = resolve_dispute(deposit, [(addr[j], seats[j], ruled[j]) for j in jury], p)
    treasury0 = owner.settlement.treasury()
    wallet0 = owner.token.balance_of(addr[TARGET])
    owner.disputes.resolve(task_id, addr[TARGET])
    got = owner.disputes.dispute_of(task_id, addr[TARGET])
    assert got.ruling == want.ruling == ruling
    assert got.fee_per_seat == want.fee_per_seat
    assert owner.token.balance_of(addr[TARGET]) - wallet0 == want.returned
    assert owner.settlement.treasury() - treasury0 == want.to_treasury
    treasury1 = owner.settlement.treasury()
    for j in jury:
        before = owner.token.balance_of(addr[j])
        owner.disputes.settle_juror(task_id, addr[TARGET], addr[j])
        assert owner.token.balance_of(addr[j]) - before == want.jurors[addr[j]], f"juror {j}"
    assert owner.settlement.treasury() - treasury1 == want.forfeited
    assert owner.token.balance_of(owner.disputes.address) == 0

    # finalize and settleValidator against settle_task with the ruling.
    treasury = Treasury(owner.settlement.treasury(), burned=owner.settlement.burned())
    owner.settlement.finalize(task_id)
    for v in members:
        owner.settlement.settle_validator(task_id, addr[v])
    expected = settle_task(
        p,
        params.reward,
        params.max_miners,
        [
            MinerInput(addr[TARGET], ruling=ruling, ruling_score=got.mode_score),
            MinerInput(addr[OTHER]),
        ],
        [
            ValidatorInput(
                addr[v],
                owner.settlement.committee_seats(task_id, addr[v]),
                votes={x.miner: (Vote(int(x.vote)), x.score, Check(int(x.check))) for x in votes[v]},
            )
            for v in members
        ],
        treasury,
    )
    for m in (TARGET, OTHER):
        state = owner.settlement.miner_state(task_id, addr[m])
        result = expected.miners[addr[m]]
        assert (state.outcome, state.score, state.paid, state.slashed) == (
            result.outcome,
            result.score,
            result.paid,
            result.slashed,
        ), f"miner {m}"
    for v in members:
        state = owner.settlement.validator_state(task_id, addr[v])
        result = expected.validators[addr[v]]
        assert (state.penalized, state.fee, state.jackpot) == (result.penalized, result.fee, result.jackpot)
    assert owner.settlement.treasury() == treasury.balance
    assert owner.settlement.burned() == treasury.burned
    target = expected.miners[addr[TARGET]].outcome
    assert (
        target
        == {
            Ruling.OVERTURNED: Outcome.PASSED,
            Ruling.UPHELD: Outcome.FAILED,
            Ruling.UNRESOLVED: Outcome.UNDECIDED,
        }[ruling]
    )
    # The coalition's vote costs its bond exactly when the jury ruled against it: its FAIL overturned, or its PASS
    # of the cheater (the UNDECIDED world) upheld.
    against = ruling == Ruling.OVERTURNED or (ruling == Ruling.UPHELD and big)
    assert expected.validators[addr[COALITION]].penalized == against
