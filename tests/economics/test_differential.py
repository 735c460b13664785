"""The economics simulation's rules against the deployed contracts, to the wei.

Each scenario draws Settlement parameters, stakes, miners (some forced, some that never commit,
some that do not reveal their forced error), validators and their votes at random, plays the task
on a fresh deployment on Anvil (real beacons, real sortition), and settles the same inputs with
`bench.settlement_rules.settle_task`. Every seat count, outcome, score, payment, obedience bonus,
slash, fee, jackpot, forfeited bond, refund, the treasury and the burned total must agree exactly,
and every lock must be released or slashed.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import asdict, dataclass, field, replace

import pytest

from bench.settlement_rules import (
    MinerInput,
    Outcome,
    Params,
    TaskResult,
    Treasury,
    ValidatorInput,
    Vote,
    committee_seats,
    is_forced,
    settle_task,
)
from chain.clients import Chain, Check, Leaf, Role, Verdict
from chain.deploy import deploy_all
from chain.tx import make_web3
from verifier.commitments import LEAF_TYPES, MerkleTree

RPT = 10**18
PROPOSER = 0
MINER_ACCOUNTS = (1, 2, 3, 4)
VALIDATOR_ACCOUNTS = (5, 6, 7, 8, 9)


@dataclass
class Scenario:
    seed: int
    params: Params
    reward: int
    max_miners: int
    treasury_seed: int
    miner_stake: dict[int, int]
    validator_stake: dict[int, int]
    forced: dict[int, bool]  # the miner's secret makes it forced on this task
    commits: dict[int, bool]
    reveals_forced: dict[int, bool]
    commits_verdict: dict[int, bool]
    reveals_verdict: dict[int, bool]
    fraud: dict[int, bool]  # the miner's tree holds a leaf that contradicts the task, and it is proven
    truth: dict[int, bool] = field(default_factory=dict)  # what an honest audit would find (pass?)
    # What most FAILs on the miner name: LOGPROB (catches a forced error) or another check (cannot).
    fail_check: dict[int, Check] = field(default_factory=dict)


def draw_scenario(seed: int) -> Scenario:
    rng = random.Random(seed)
    params = Params(
        committee_seats=rng.randint(3, 24),
        quorum_bps=rng.choice([3_000, 5_000, 6_667, 8_000, 10_000]),
        supermajority_bps=rng.choice([5_001, 6_000, 6_667, 7_500]),
        validator_fee_bps=rng.randint(0, 2_500),
        base_share_bps=rng.randint(0, 5_000),
        deterrence_bps=rng.randint(10_000, 30_000),
        validator_bond=rng.randint(1, 20) * RPT + rng.randint(0, 10**6),
        forced_error_odds=rng.randint(2, 4),
        jackpot=rng.choice([0, rng.randint(1, 40) * RPT + rng.randint(0, 999)]),
    )
    miners = rng.sample(MINER_ACCOUNTS, rng.randint(1, len(MINER_ACCOUNTS)))
    validators = rng.sample(VALIDATOR_ACCOUNTS, rng.randint(1, len(VALIDATOR_ACCOUNTS)))
    forced = {m: rng.random() < 0.55 for m in miners}
    commits = {m: rng.random() < 0.85 for m in miners}
    return Scenario(
        seed=seed,
        params=params,
        reward=rng.randint(10, 500) * RPT + rng.randint(0, 10**9),
        max_miners=rng.randint(len(miners), 8),
        treasury_seed=rng.choice([0, rng.randint(1, 200) * RPT]),
        miner_stake={m: rng.randint(1_500, 2_500) * RPT for m in miners},
        validator_stake={v: rng.randint(100, 2_000) * RPT + rng.randint(0, 10**12) for v in validators},
        forced=forced,
        commits=commits,
        reveals_forced={m: forced[m] and commits[m] and rng.random() < 0.8 for m in miners},
        commits_verdict={v: rng.random() < 0.9 for v in validators},
        reveals_verdict={v: rng.random() < 0.85 for v in validators},
        fraud={m: commits[m] and rng.random() < 0.2 for m in miners},
        truth={m: rng.random() < 0.7 for m in miners},
        fail_check={
            m: Check.LOGPROB if rng.random() < 0.6 else rng.choice([Check.STRUCTURE, Check.TOKEN])
            for m in miners
        },
    )


def leaf_of(leaf: Leaf) -> bytes:
    """The OpenZeppelin standard leaf of a leaf preimage (PROTOCOL.md §6)."""
    from eth_abi import encode
    from eth_utils import keccak

    return keccak(keccak(encode(LEAF_TYPES, list(leaf.as_tuple()))))


def secret_with(forced: bool, seed_randomness: bytes, odds: int) -> bytes:
    """A forced-error secret that is (or is not) forced on this seed."""
    while True:
        secret = secrets.token_bytes(32)
        if is_forced(secret, seed_randomness, odds) == forced:
            return secret


def random_verdicts(
    rng: random.Random, sc: Scenario, committed: list[int], addr: dict[int, str]
) -> list[Verdict]:
    """Mostly the truth (FAIL on forced miners), sometimes anything.

    Scores come from a few values (so the seat-weighted modes see agreement, ties and demotions) or
    at random; a FAIL names the miner's usual check (LOGPROB for most, another check, which cannot
    catch a forced error, for some), so forced miners end caught, passed or unpaid."""
    out = []
    for m in committed:
        honest_pass = sc.truth[m] and not sc.forced[m]
        roll = rng.random()
        if roll < 0.65:
            vote = Vote.PASS if honest_pass else Vote.FAIL
        elif roll < 0.8:
            vote = Vote.UNAVAILABLE
        else:
            vote = rng.choice([Vote.PASS, Vote.FAIL])
        if vote == Vote.UNAVAILABLE:
            score = 0
        elif rng.random() < 0.6:
            score = rng.choice([250_000, 500_000, 1_000_000])
        else:
            score = rng.randint(0, 1_000_000)
        if vote == Vote.FAIL:
            check = sc.fail_check[m] if rng.random() < 0.85 else rng.choice([Check.LOGPROB, Check.TOKEN])
            out.append(Verdict(addr[m], vote, score, 4, rng.randint(0, 3), rng.randint(0, 9), check))
        else:
            out.append(Verdict(addr[m], vote, score, 4))
    return out


def play(
    anvil, accounts, beacon_config, devnet_beacon, deploy_params, task_params, sc: Scenario
) -> TaskResult:
    rng = random.Random(sc.seed * 7919)
    p = sc.params
    # The tests' deployment (tests/conftest.py) with the scenario's Settlement and Disputes parameters.
    deploy = replace(deploy_params, **asdict(p))
    w3 = make_web3(anvil.rpc_url)
    deployment = deploy_all(w3, accounts[0], beacon_config, deploy)
    chains = {i: Chain.connect(anvil.rpc_url, deployment, accounts[i]) for i in range(len(accounts))}
    owner = chains[PROPOSER]
    for i in [PROPOSER, *sc.miner_stake, *sc.validator_stake]:
        owner.token.mint(accounts[i].address, 10_000 * RPT)
    addr = {i: accounts[i].address for i in range(len(accounts))}
    for m, amount in sc.miner_stake.items():
        chains[m].stakes.stake(Role.MINER, amount)
    for v, amount in sc.validator_stake.items():
        chains[v].stakes.stake(Role.VALIDATOR, amount)
    if sc.treasury_seed:
        owner.settlement.fund_treasury(sc.treasury_seed, owner.token)

    task = task_params(step=60, max_tokens=16, reward=sc.reward, max_miners=sc.max_miners)
    task_id = owner.board.post_task(task)
    posted = owner.board.get_task(task_id)
    seed_beacon = devnet_beacon.sign(posted.seed_round)
    miners = list(sc.miner_stake)  # join order
    secrets_of = {m: secret_with(sc.forced[m], seed_beacon.randomness, p.forced_error_odds) for m in miners}
    for m in miners:
        s = chains[m].settlement
        s.join(
            task_id,
            secrets.token_bytes(32),
            s.forced_error_commitment_onchain(task_id, addr[m], secrets_of[m]),
        )
    assert owner.settlement.lock_amount(task_id) == (
        (sc.reward - sc.reward * p.validator_fee_bps // 10_000) // sc.max_miners * p.deterrence_bps // 10_000
    )

    anvil.warp_to(task.join_deadline + 1)
    owner.beacon.record_beacon(*seed_beacon.onchain_args())
    committed = [m for m in miners if sc.commits[m]]
    frauds: dict[int, tuple[Leaf, list[bytes]]] = {}
    for m in committed:
        if sc.fraud[m]:
            # One of the four leaves names a problem outside the task: chain-checkable fraud.
            bad = Leaf(task_id, addr[m], task.num_problems, 0, b"\x05" * 32, b"\x06" * 32, 500_000)
            leaves = [leaf_of(bad)] + [secrets.token_bytes(32) for _ in range(3)]
            tree = MerkleTree.of(leaves)
            chains[m].settlement.commit(task_id, tree.root, 4)
            frauds[m] = (bad, tree.proof(leaves[0]))
        else:
            chains[m].settlement.commit(task_id, secrets.token_bytes(32), 4)
    for m, (bad, proof) in frauds.items():
        owner.disputes.prove_fraud(task_id, addr[m], bad, proof)
    for m in miners:
        assert owner.settlement.is_forced(secrets_of[m], seed_beacon.randomness) == sc.forced[m]

    anvil.warp_to(task.commit_deadline + 1)
    challenge = devnet_beacon.sign(posted.challenge_round)
    owner.beacon.record_beacon(*challenge.onchain_args())
    total = sum(sc.validator_stake.values())
    seats = {}
    for v, stake in sc.validator_stake.items():
        seats[v] = owner.settlement.committee_seats(task_id, addr[v])
        assert seats[v] == committee_seats(
            challenge.randomness, task_id, addr[v], stake, total, p.committee_seats
        )
    verdicts: dict[int, list[Verdict]] = {}
    salts = {v: secrets.token_bytes(32) for v in sc.validator_stake}
    if committed:
        for v in sc.validator_stake:
            if seats[v] and sc.commits_verdict[v]:
                verdicts[v] = random_verdicts(rng, sc, committed, addr)
                chains[v].settlement.commit_verdict(task_id, verdicts[v], salts[v])

    anvil.warp_to(task.verdict_deadline + 1)
    revealed_order = list(verdicts)
    rng.shuffle(revealed_order)  # the reveal order decides ties of the score modes
    for v in revealed_order:
        if sc.reveals_verdict[v]:
            chains[v].settlement.reveal_verdict(task_id, verdicts[v], salts[v])
    for m in miners:
        if sc.reveals_forced[m]:
            chains[m].settlement.reveal_forced_error(task_id, secrets_of[m])

    # Nobody disputes here: a task with a FAILED miner finalizes after its dispute window (§2.10).
    anvil.warp_to(owner.disputes.windows(task_id).dispute_deadline + 1)
    treasury_before, burned_before = owner.settlement.treasury(), owner.settlement.burned()
    stakes_before = {
        **{m: owner.stakes.active_stake(addr[m], Role.MINER) for m in miners},
        **{v: owner.stakes.active_stake(addr[v], Role.VALIDATOR) for v in sc.validator_stake},
    }
    owner.settlement.finalize(task_id)
    order = list(verdicts)
    rng.shuffle(order)  # settleValidator order decides who gets a capped treasury first
    for v in order:
        owner.settlement.settle_validator(task_id, addr[v])

    # ---- the same inputs through the Python rules ----
    expected = settle_task(
        p,
        sc.reward,
        sc.max_miners,
        [
            MinerInput(addr[m], committed=sc.commits[m], forced=sc.reveals_forced[m], fraud=sc.fraud[m])
            for m in miners
        ],
        [
            ValidatorInput(
                addr[v],
                seats[v],
                revealed=sc.reveals_verdict[v],
                votes={x.miner: (Vote(int(x.vote)), x.score, Check(int(x.check))) for x in verdicts[v]},
            )
            for v in order
        ],
        treasury := Treasury(treasury_before, burned=burned_before),
        reveal_order=[addr[v] for v in revealed_order],
    )
    ts = owner.settlement.task_settlement(task_id)
    assert ts.cap == expected.cap and ts.lock == expected.lock
    assert ts.revealed_seats == expected.revealed_seats
    assert ts.decisive_seat_votes == expected.decisive_seat_votes
    for m in miners:
        got = owner.settlement.miner_state(task_id, addr[m])
        want = expected.miners[addr[m]]
        assert (int(got.outcome), got.score, got.paid, got.slashed) == (
            int(want.outcome),
            want.score,
            want.paid,
            want.slashed,
        ), f"miner {m} in scenario {sc.seed}"
        assert got.locked == want.locked
        assert owner.stakes.locked_stake(addr[m], Role.MINER) == 0
        assert owner.stakes.active_stake(addr[m], Role.MINER) == stakes_before[m] - want.slashed
    for v in order:
        got = owner.settlement.validator_state(task_id, addr[v])
        want = expected.validators[addr[v]]
        assert (got.penalized, got.fee, got.jackpot, got.bond) == (
            want.penalized,
            want.fee,
            want.jackpot,
            want.bond,
        ), f"validator {v} in scenario {sc.seed}"
        assert owner.stakes.locked_stake(addr[v], Role.VALIDATOR) == 0
        assert owner.stakes.active_stake(addr[v], Role.VALIDATOR) == stakes_before[v] - want.forfeited
    assert ts.refund == expected.refund
    assert ts.slashed == expected.slashed
    assert owner.settlement.treasury() == treasury.balance
    assert (
        owner.settlement.burned() == treasury.burned
    )  # blocked caps and unearned fees, never the treasury's
    bounties = sum(r.bounty for r in expected.miners.values())
    assert (
        owner.settlement.claimable(addr[PROPOSER]) == expected.refund + bounties
    )  # the proposer proved the frauds
    return expected


FAST_SEEDS = list(range(1, 11))
SLOW_SEEDS = list(range(100, 140))


def test_rules_match_contracts(anvil, accounts, beacon_config, devnet_beacon, deploy_params, task_params):
    outcomes: set[Outcome] = set()
    fates: set[bool] = set()
    forced_paid: set[bool] = set()
    no_show_slashed = bounties = 0
    for seed in FAST_SEEDS:
        result = play(
            anvil, accounts, beacon_config, devnet_beacon, deploy_params, task_params, draw_scenario(seed)
        )
        outcomes.update(m.outcome for m in result.miners.values())
        fates.update(v.penalized for v in result.validators.values())
        forced_paid.update(m.paid > 0 for m in result.miners.values() if m.outcome == Outcome.FORCED)
        no_show_slashed += sum(m.slashed for m in result.miners.values() if m.outcome == Outcome.NO_COMMIT)
        bounties += sum(m.bounty for m in result.miners.values())
    # The scenarios are not vacuous: they reach every kind of outcome and both validator fates.
    assert {Outcome.PASSED, Outcome.FAILED, Outcome.FORCED, Outcome.NO_COMMIT} <= outcomes, outcomes
    assert outcomes & {Outcome.UNDECIDED, Outcome.NO_QUORUM}, outcomes
    assert fates == {True, False}
    assert bounties > 0  # a fraud proof was among them
    # Forced miners both paid (caught on LOGPROB FAILs, or passed) and unpaid (neither); a no-show slashed.
    assert forced_paid == {True, False}, forced_paid
    assert no_show_slashed > 0


@pytest.mark.slow
@pytest.mark.parametrize("seed", SLOW_SEEDS)
def test_rules_match_contracts_many(
    anvil, accounts, beacon_config, devnet_beacon, deploy_params, task_params, seed
):
    play(anvil, accounts, beacon_config, devnet_beacon, deploy_params, task_params, draw_scenario(seed))
