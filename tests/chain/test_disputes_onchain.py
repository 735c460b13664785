"""Model-check disputes (PROTOCOL.md §2.10) through the Python bindings on a real Anvil: a coalition holding
the first committee's FAIL supermajority fails an honest miner; the miner disputes with its deposit; a jury of
2C lots drawn after the dispute deadline from all validator stake at the verify deadline (the coalition too, by
then a minority: honest stake arrived after the commit deadline) re-rules on the named evidence and overturns; the
miner is paid, the coalition loses its bonds, first committee's and jury's, the honest jurors are paid."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from chain.clients import Check, Evidence, Outcome, Role, Ruling, Verdict, Vote, forced_error_commitment
from chain.errors import ChainError, ChainRevert

RPT = 10**18
PROPOSER, MINER, COALITION = 0, 1, 2
HONEST = range(3, 10)  # anvil's other seven accounts: 100 RPT of validator stake each
SCORE = 700_000
EVIDENCE = Evidence(rollout_index=1, position=3, check=Check.TOKEN)


def _fail(miner: str) -> Verdict:
    return Verdict(
        miner=miner,
        vote=Vote.FAIL,
        score=0,
        audited=2,
        rollout_index=EVIDENCE.rollout_index,
        position=EVIDENCE.position,
        check=EVIDENCE.check,
    )


def _pass(miner: str) -> Verdict:
    return Verdict(
        miner=miner, vote=Vote.PASS, score=SCORE, audited=2, rollout_index=0, position=0, check=Check.NONE
    )


def _record(chain, devnet_beacon, clock, round_: int) -> None:
    clock.warp_to(max(clock.timestamp(), chain.board.round_time(round_)))
    chain.beacon.record_beacon(*devnet_beacon.sign(round_).onchain_args())


def test_a_coalition_fail_on_an_honest_miner_is_overturned_by_the_jury(
    chain_for, clock, task_params, devnet_beacon
):
    proposer, miner, coalition = chain_for(PROPOSER), chain_for(MINER), chain_for(COALITION)
    # The coalition holds 99.3 % of the validator stake: the whole first committee, in effect.
    proposer.token.mint(coalition.address, 100_000 * RPT)
    coalition.stakes.stake(Role.VALIDATOR, 100_000 * RPT)
    for i in HONEST:
        chain_for(i).stakes.stake(Role.VALIDATOR, 100 * RPT)
    params = task_params(step=60, reward=100 * RPT, max_miners=4)
    task_id = proposer.board.post_task(params)
    task = proposer.board.get_task(task_id)
    miner.stakes.stake(Role.MINER, 100 * RPT)
    miner.settlement.join(
        task_id, b"\x01" * 32, forced_error_commitment(task_id, miner.address, b"\x02" * 32)
    )
    miner.settlement.commit(
        task_id, keccak(b"honest rollouts"), params.num_problems * params.rollouts_per_problem
    )
    lock = miner.settlement.miner_state(task_id, miner.address).locked

    # First committee: the coalition fails the honest miner, honest members drawn pass it.
    clock.warp_to(params.commit_deadline + 1)
    _record(proposer, devnet_beacon, clock, task.challenge_round)
    members = [COALITION] + [
        i for i in HONEST if proposer.settlement.committee_seats(task_id, chain_for(i).address)
    ]
    salt = b"\x05" * 32
    votes = {i: [_fail(miner.address)] if i == COALITION else [_pass(miner.address)] for i in members}
    for i in members:
        chain_for(i).settlement.commit_verdict(task_id, votes[i], salt)
    clock.warp_to(params.verdict_deadline + 1)
    for i in members:
        chain_for(i).settlement.reveal_verdict(task_id, votes[i], salt)
    assert proposer.settlement.fail_evidence(task_id, miner.address) == [EVIDENCE]
    # Honest stake arrives before the verify deadline: the jury weighs it, the first committee did not.
    for i in HONEST:
        proposer.token.mint(chain_for(i).address, 100_000 * RPT)
        chain_for(i).stakes.stake(Role.VALIDATOR, 100_000 * RPT)
    miner.stakes.stake(Role.VALIDATOR, 100 * RPT)  # validator stake does not put a task's miner on its jury

    # Finalize waits: the FAILED miner may still dispute. Only a FAILED miner may, once, in the window.
    clock.warp_to(params.verify_deadline + 1)
    with pytest.raises(ChainRevert, match="may dispute until"):
        proposer.settlement.finalize(task_id)
    assert miner.disputes.can_dispute(task_id, miner.address)
    with pytest.raises(ChainRevert, match="did not commit to the task"):
        coalition.disputes.dispute(task_id)
    wallet = miner.token.balance_of(miner.address)
    # The deposit comes from free tokens, not from the lock: without them the miner is told so, before any
    # transaction (ChainRevert is a ChainError, so the match tells the two apart).
    miner.token.transfer(proposer.address, wallet - lock + 1)
    with pytest.raises(ChainError, match="takes a deposit of .* in free"):
        miner.disputes.dispute(task_id)
    assert miner.disputes.dispute_of(task_id, miner.address).ruling == Ruling.NONE
    proposer.token.transfer(miner.address, wallet - lock + 1)
    assert miner.disputes.dispute(task_id) is not None
    assert miner.disputes.dispute(task_id) is None  # restart-safe: already disputed
    assert miner.token.balance_of(miner.address) == wallet - lock

    # The jury: drawn by the first round after the dispute deadline plus the beacon lag from all validator stake but the task's
    # miners': the accuser sits by its stake (now a minority) and upholds its own FAIL.
    windows = proposer.disputes.windows(task_id)
    clock.warp_to(windows.dispute_deadline + 1)
    _record(proposer, devnet_beacon, clock, windows.round)
    coalition_seats = proposer.disputes.juror_seats(task_id, miner.address, coalition.address)
    assert coalition_seats > 0, "the accuser sits by its stake"
    jurors = [
        i for i in HONEST if proposer.disputes.juror_seats(task_id, miner.address, chain_for(i).address)
    ]
    assert jurors, "a jury is drawn"
    assert (
        sum(proposer.disputes.juror_seats(task_id, miner.address, chain_for(i).address) for i in jurors) > 0
    )
    with pytest.raises(ChainRevert, match="holds no seat on the jury"):
        miner.disputes.commit_ruling(
            task_id, miner.address, True, SCORE, salt
        )  # nobody judges a task it mined
    coalition.disputes.commit_ruling(task_id, miner.address, False, 0, salt)
    for i in jurors:
        chain_for(i).disputes.commit_ruling(task_id, miner.address, True, SCORE, salt)
    clock.warp_to(windows.commit_deadline + 1)
    coalition.disputes.reveal_ruling(task_id, miner.address, False, 0, salt)
    for i in jurors:
        chain_for(i).disputes.reveal_ruling(task_id, miner.address, True, SCORE, salt)
    clock.warp_to(windows.reveal_deadline + 1)
    with pytest.raises(ChainRevert, match="not resolved yet; finalize waits"):
        proposer.settlement.finalize(task_id)
    proposer.disputes.resolve(task_id, miner.address)
    dispute = proposer.disputes.dispute_of(task_id, miner.address)
    assert dispute.ruling == Ruling.OVERTURNED
    fee = lock * proposer.disputes.params().juror_fee_bps // 10_000
    assert miner.token.balance_of(miner.address) == wallet - fee

    # The honest miner is PASSED and paid; the coalition's bond is forfeited; the jurors are paid.
    proposer.settlement.finalize(task_id)
    state = proposer.settlement.miner_state(task_id, miner.address)
    assert state.outcome == Outcome.PASSED and state.paid > 0 and state.slashed == 0
    assert miner.stakes.locked_stake(miner.address, Role.MINER) == 0
    assert miner.stakes.active_stake(miner.address, Role.MINER) == 100 * RPT
    proposer.settlement.settle_validator(task_id, coalition.address)
    assert proposer.settlement.validator_state(task_id, coalition.address).penalized
    for i in jurors:
        juror = chain_for(i)
        before = juror.token.balance_of(juror.address)
        seats = proposer.disputes.juror_of(task_id, miner.address, juror.address).seats
        juror.disputes.settle_juror(task_id, miner.address)
        bond = proposer.settlement.params().validator_bond * seats
        assert juror.token.balance_of(juror.address) == before + bond + dispute.fee_per_seat * seats
    before = coalition.token.balance_of(coalition.address)
    coalition.disputes.settle_juror(task_id, miner.address)
    assert coalition.token.balance_of(coalition.address) == before, "the accuser's jury bond is forfeited"
    assert proposer.token.balance_of(proposer.disputes.address) == 0


def test_the_jury_round_waits_out_the_beacon_lag_and_the_deploy_refuses_a_commit_window_without_it(
    anvil, accounts, beacon_config, chain, task_params
):
    """The jury's round is the first after disputeDeadline + BEACON_LAG (RedTeam H18: a dispute sealed late
    at the deadline must not see its jury); the deployer's Python check uses the chain's lag."""
    from chain.deploy import BEACON_LAG, DeployParams, deploy_all
    from chain.errors import ChainError
    from chain.tx import make_web3

    assert chain.board.beacon_lag() == BEACON_LAG
    task_id = chain.board.post_task(task_params())
    w = chain.disputes.windows(task_id)
    assert chain.board.round_time(w.round) > w.dispute_deadline + BEACON_LAG
    assert chain.board.round_time(w.round - 1) <= w.dispute_deadline + BEACON_LAG
    short = DeployParams(
        min_audit_time=5, jury_commit_window=beacon_config.period + 5
    )  # enough before the lag
    with pytest.raises(ChainError, match="beacon lag"):
        deploy_all(make_web3(anvil.rpc_url), accounts[0], beacon_config, short)
