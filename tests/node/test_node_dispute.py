"""Disputes with the node's re-audit (node/roles/dispute.py) on a real Anvil and the real tiny model: a
coalition holding the first committee FAILs an honest miner and a cheater (tokens swapped after sampling),
naming a rollout. Each miner re-audits exactly the named evidence on its own rollouts with the validators'
code: the honest one passes and disputes, the cheater fails and does not. The jurors re-audit the same
evidence from the honest miner's openings, overturn, and the miner is PASSED and paid."""

from __future__ import annotations

import dataclasses
import secrets

import pytest

from chain.clients import (
    Check,
    Evidence,
    Outcome,
    Role,
    Ruling,
    Verdict,
    Vote,
    env_id,
    forced_error_commitment,
)
from chain.deploy import DeployParams

RPT = 10**18
PROPOSER, HONEST, CHEATER, COALITION = 0, 1, 2, 3
JURORS = range(4, 10)


@pytest.fixture
def deploy_params() -> DeployParams:
    """The default committee (C = 64: a jury of 128 lots reaches its quorum), forced errors too rare to
    draw here."""
    return DeployParams(
        min_stake_evaluator=10 * RPT,
        cooldown=3600,
        max_task_duration=1800,
        min_audit_time=0,
        forced_error_odds=10**9,
        jury_commit_window=30,
    )


def _fail(miner: str, evidence: Evidence) -> Verdict:
    return Verdict(
        miner=miner,
        vote=Vote.FAIL,
        score=0,
        audited=2,
        rollout_index=evidence.rollout_index,
        position=evidence.position,
        check=evidence.check,
    )


def test_an_honest_miner_disputes_a_false_fail_and_the_jury_overturns_it(
    accounts, chain_for, clock, task_params, devnet_beacon
) -> None:
    from node.envs.letters import NAME as LETTERS
    from node.envs.letters import LettersEnv
    from node.roles.dispute import named_rollouts, reaudit
    from verifier.commitments import MerkleTree, leaf_hash
    from verifier.models import model_hash, new_adapter, tiny_model
    from verifier.params import AuditParams
    from verifier.rollout import TaskSpec
    from verifier.sampler import prove_rollouts

    model, tokenizer = tiny_model()
    policy = new_adapter(model, rank=4, seed=0)
    proposer, coalition = chain_for(PROPOSER), chain_for(COALITION)
    for i in (HONEST, CHEATER):
        chain_for(i).stakes.stake(Role.MINER, 100 * RPT)
    # The coalition holds 99 % of the validator stake, hence the whole first committee.
    proposer.token.mint(coalition.address, 60_000 * RPT)
    coalition.stakes.stake(Role.VALIDATOR, 60_000 * RPT)
    for i in JURORS:
        chain_for(i).stakes.stake(Role.VALIDATOR, 100 * RPT)
    params = task_params(
        step=60, env_id=env_id(LETTERS), base_model_hash=model_hash(model), max_tokens=8, max_miners=4
    )
    task_id = proposer.board.post_task(params)
    task = proposer.board.get_task(task_id)
    for i in (HONEST, CHEATER):
        commitment = forced_error_commitment(task_id, accounts[i].address, secrets.token_bytes(32))
        chain_for(i).settlement.join(task_id, b"\x07" * 32, commitment)
    clock.warp_to(params.join_deadline + 1)
    seed = devnet_beacon.sign(task.seed_round)
    proposer.beacon.record_beacon(*seed.onchain_args())
    spec = TaskSpec(task_id, 1, 2, 2, 8, 700, seed.randomness)
    committed = {}
    for i in (HONEST, CHEATER):
        rollouts = prove_rollouts(policy, tokenizer, LettersEnv(), spec, accounts[i].address)
        if i == CHEATER:  # a different token than the sampler drew, everywhere: any audit finds it
            rollouts = [
                dataclasses.replace(r, tokens=((r.tokens[0] + 1) % 1000, *r.tokens[1:])) for r in rollouts
            ]
        tree = MerkleTree.of([leaf_hash(r) for r in rollouts])
        committed[i] = (rollouts, tree)
        chain_for(i).settlement.commit(task_id, tree.root, len(rollouts))

    # The coalition fails both, naming rollout 1, position 0, TOKEN.
    named = Evidence(rollout_index=1, position=0, check=Check.TOKEN)
    clock.warp_to(params.commit_deadline + 1)
    clock.warp_to(max(clock.timestamp(), proposer.board.round_time(task.challenge_round)))
    proposer.beacon.record_beacon(*devnet_beacon.sign(task.challenge_round).onchain_args())
    votes = [_fail(accounts[i].address, named) for i in (HONEST, CHEATER)]
    salt = secrets.token_bytes(32)
    coalition.settlement.commit_verdict(task_id, votes, salt)
    first = [i for i in JURORS if proposer.settlement.committee_seats(task_id, accounts[i].address)]
    for i in first:  # honest members drawn: they audit the honest miner right and the cheater right
        chain_for(i).settlement.commit_verdict(
            task_id, [Verdict.from_pass(accounts[HONEST].address, True, 500_000, 2), votes[1]], salt
        )
    clock.warp_to(params.verdict_deadline + 1)
    coalition.settlement.reveal_verdict(task_id, votes, salt)
    for i in first:
        chain_for(i).settlement.reveal_verdict(
            task_id, [Verdict.from_pass(accounts[HONEST].address, True, 500_000, 2), votes[1]], salt
        )
    clock.warp_to(params.verify_deadline + 1)

    # Each FAILED miner re-audits exactly the named evidence on its own rollouts.
    stored = dataclasses.asdict(proposer.board.get_task(task_id).params)
    audit_spec = dataclasses.replace(spec, audit=AuditParams.from_mapping(stored))
    outcome = {}
    for i in (HONEST, CHEATER):
        miner = accounts[i].address
        assert chain_for(i).disputes.can_dispute(task_id, miner)
        evidence = proposer.settlement.fail_evidence(task_id, miner)
        assert evidence == [named]
        rollouts, tree = committed[i]
        indices = named_rollouts(evidence, audit_spec.total_rollouts)
        chosen = [rollouts[k] for k in indices]
        verdict = reaudit(
            policy, tokenizer, LettersEnv(), audit_spec, miner, tree.root, evidence, chosen,
            [tree.proof(leaf_hash(r)) for r in chosen],
        )  # fmt: skip
        outcome[i] = verdict
        if verdict.passed:
            chain_for(i).disputes.dispute(task_id)
    assert outcome[HONEST].passed and not outcome[CHEATER].passed
    assert proposer.disputes.dispute_of(task_id, accounts[CHEATER].address).ruling == Ruling.NONE

    # The jury re-audits the honest miner's named rollouts from its openings and overturns.
    honest = accounts[HONEST].address
    windows = proposer.disputes.windows(task_id)
    clock.warp_to(max(windows.dispute_deadline + 1, proposer.board.round_time(windows.round)))
    proposer.beacon.record_beacon(*devnet_beacon.sign(windows.round).onchain_args())
    jurors = [i for i in JURORS if proposer.disputes.juror_seats(task_id, honest, accounts[i].address)]
    assert jurors and not set(jurors) & set(first)
    rollouts, tree = committed[HONEST]
    chosen = [rollouts[k] for k in named_rollouts([named], audit_spec.total_rollouts)]
    ruling = reaudit(
        policy, tokenizer, LettersEnv(), audit_spec, honest, tree.root, [named], chosen,
        [tree.proof(leaf_hash(r)) for r in chosen],
    )  # fmt: skip
    assert ruling.passed
    for i in jurors:
        chain_for(i).disputes.commit_ruling(task_id, honest, True, ruling.score, salt)
    clock.warp_to(windows.commit_deadline + 1)
    for i in jurors:
        chain_for(i).disputes.reveal_ruling(task_id, honest, True, ruling.score, salt)
    clock.warp_to(windows.reveal_deadline + 1)
    proposer.disputes.resolve(task_id, honest)
    assert proposer.disputes.dispute_of(task_id, honest).ruling == Ruling.OVERTURNED
    proposer.settlement.finalize(task_id)
    assert proposer.settlement.miner_state(task_id, honest).outcome == Outcome.PASSED
    assert proposer.settlement.miner_state(task_id, honest).score == ruling.score
    cheater = proposer.settlement.miner_state(task_id, accounts[CHEATER].address)
    assert cheater.outcome == Outcome.FAILED and cheater.slashed == cheater.locked
    proposer.settlement.settle_validator(task_id, coalition.address)
    assert proposer.settlement.validator_state(task_id, coalition.address).penalized
