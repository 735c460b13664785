"""A validator whose miner is unreachable retries the audit until shortly before the verdict
deadline (issue 15): the miner's peer is down at the first audit (no verdict is stored, the task
stays CHALLENGED), comes back with the same identity, and the retried audit fetches its openings
and votes PASS; a miner that never comes back is recorded, once the retry budget is spent, with
every challenged rollout `missing` and an UNAVAILABLE vote (PROTOCOL.md §2.7, §7.3), which the
validator then commits. Real Anvil, the real tiny model, real libp2p hosts on 127.0.0.1."""

from __future__ import annotations

import secrets
import socket
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from chain.clients import Role, Vote, env_id, forced_error_commitment
from chain.deploy import DeployParams

RPT = 10**18
PROPOSER, MINER, VALIDATOR = 0, 5, 9

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def deploy_params() -> DeployParams:
    """A small committee, and forced errors so rare that the miner draws none in this test."""
    return DeployParams(
        min_stake_evaluator=10 * RPT,
        cooldown=3600,
        max_task_duration=1800,
        min_audit_time=0,
        committee_seats=4,
        forced_error_odds=10**9,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def unreachable_miner(
    tmp_path: Path, anvil, accounts, deployment, chain_for, clock, task_params, devnet_beacon
):
    """A task whose one miner committed and then went down: the challenge is recorded, and the
    validator (own store, chain account and p2p host, the miner's address as a bootstrap peer that
    nothing listens on) is ready to audit. `serve()` brings the miner's peer back."""
    from libp2p.peer.id import ID

    from node.envs.letters import NAME as LETTERS
    from node.envs.letters import LettersEnv
    from node.p2p import P2PConfig, P2PNode
    from node.p2p.identity import key_pair_from_secret
    from node.roles.audit import audited_spec
    from node.roles.validator import Validator
    from node.runtime.context import NodeContext
    from node.runtime.network import to_wire
    from node.runtime.settings import RoleSettings
    from node.runtime.stop import StopFlag
    from node.store import Role as StoreRole
    from node.store import open_store
    from node.tasks.view import sync_tasks, task_view
    from verifier.commitments import MerkleTree, leaf_hash
    from verifier.models import model_hash, new_adapter, save_adapter, tiny_model
    from verifier.sampler import prove_rollouts
    from verifier.tokenizer import tokenizer_hash

    model, tokenizer = tiny_model()
    policy = new_adapter(model, rank=4, seed=0)
    data_dir = tmp_path / "validator"
    adapter = save_adapter(policy, data_dir / "adapters" / "tmp")
    (data_dir / "adapters" / "tmp").rename(data_dir / "adapters" / ("0x" + adapter.hex()))

    chain_for(MINER).stakes.stake(Role.MINER, 100 * RPT)
    chain_for(VALIDATOR).stakes.stake(Role.VALIDATOR, 100 * RPT)
    miner_identity = secrets.token_bytes(32)
    chain_for(MINER).stakes.register_peer(miner_identity)
    miner = accounts[MINER].address
    params = task_params(
        step=120,
        env_id=env_id(LETTERS),
        base_model_hash=model_hash(model),
        tokenizer_hash=tokenizer_hash(tokenizer),  # a task naming no tokenizer is refused (PROTOCOL §5)
        num_problems=2,
        rollouts_per_problem=2,
        max_tokens=8,
    )
    task_id = chain_for(PROPOSER).board.post_task(params)
    task = chain_for(PROPOSER).board.get_task(task_id)
    chain_for(MINER).settlement.join(
        task_id, adapter, forced_error_commitment(task_id, miner, secrets.token_bytes(32))
    )
    clock.warp_to(params.join_deadline + 1)
    seed = devnet_beacon.sign(task.seed_round)
    chain_for(PROPOSER).beacon.record_beacon(*seed.onchain_args())

    miner_port = free_port()
    miner_peer = ID.from_pubkey(key_pair_from_secret(miner_identity).public_key).to_base58()
    settings = RoleSettings(
        "validator",
        data_dir=str(data_dir),
        rpc_url=anvil.rpc_url,
        deployment=str(deployment.save(tmp_path / "deployment.json")),
        model="tiny",
    )
    store = open_store(f"sqlite:///{data_dir / 'node.db'}")
    p2p = P2PNode(
        P2PConfig(
            listen_addr="/ip4/127.0.0.1/tcp/0",
            bootstrap=[f"/ip4/127.0.0.1/tcp/{miner_port}/p2p/{miner_peer}"],
            eclipse_protection=False,
            reconnect_max_seconds=2.0,
            request_timeout=5.0,
        ),
        bytes(accounts[VALIDATOR].key),
        lambda a: True,
        identity_secret=secrets.token_bytes(32),
    ).start()
    ctx = NodeContext(
        settings=settings,
        role=StoreRole.VALIDATOR,
        store=store,
        chain=chain_for(VALIDATOR),
        address=accounts[VALIDATOR].address,
        account_key=bytes(accounts[VALIDATOR].key),
        identity_secret=secrets.token_bytes(32),
        deployment=deployment,
        beacon=None,
        stop=StopFlag(),
        p2p=p2p,
    )
    nodes: list = []
    try:
        validator = Validator(ctx)
        sync_tasks(ctx)
        spec = audited_spec(ctx, task_view(ctx, task_id), seed.randomness)
        rollouts = prove_rollouts(policy, tokenizer, LettersEnv(), spec, miner)
        tree = MerkleTree.of([leaf_hash(r) for r in rollouts])
        chain_for(MINER).settlement.commit(task_id, tree.root, len(rollouts))
        clock.warp_to(params.commit_deadline + 1)
        challenge = devnet_beacon.sign(task.challenge_round)
        chain_for(PROPOSER).beacon.record_beacon(*challenge.onchain_args())
        store.set_task_randomness(task_id, seed=seed.randomness, challenge=challenge.randomness)

        def serve() -> None:
            def openings(task: int, who: str, pairs: list[tuple[int, int]]) -> list:
                return [
                    (to_wire(rollouts[p * 2 + g]), tree.proof(leaf_hash(rollouts[p * 2 + g])))
                    for p, g in pairs
                ]

            node = P2PNode(
                P2PConfig(listen_addr=f"/ip4/127.0.0.1/tcp/{miner_port}", eclipse_protection=False),
                bytes(accounts[MINER].key),
                lambda a: True,
                identity_secret=miner_identity,
            )
            node.serve_openings(openings)
            nodes.append(node.start())

        yield SimpleNamespace(
            validator=validator, store=store, task_id=task_id, miner=miner, params=params, serve=serve
        )
    finally:
        for node in nodes:
            node.stop()
        ctx.close()


def first_audit_waits(setup) -> None:
    """The miner is down: no gossip, no openings. The audit schedules a retry instead of voting."""
    from node.store import Role as StoreRole
    from node.store import ValidatorState

    validator, store, task_id = setup.validator, setup.store, setup.task_id
    assert validator.advance(task_id)
    assert store.task_state(task_id, StoreRole.VALIDATOR) == ValidatorState.CHALLENGED
    assert validator.advance(task_id) is False
    assert store.task_state(task_id, StoreRole.VALIDATOR) == ValidatorState.CHALLENGED
    assert store.verdict(task_id) is None
    assert validator.progress[task_id].attempts == 1


def test_an_unreachable_miner_that_returns_before_the_deadline_passes(unreachable_miner) -> None:
    from node.store import Role as StoreRole
    from node.store import ValidatorState

    setup = unreachable_miner
    first_audit_waits(setup)
    setup.serve()
    store, task_id = setup.store, setup.task_id
    deadline = time.monotonic() + 120
    while store.task_state(task_id, StoreRole.VALIDATOR) == ValidatorState.CHALLENGED:
        assert time.monotonic() < deadline, "the retried audit never ran"
        setup.validator.advance(task_id)
        time.sleep(0.5)
    assert store.task_state(task_id, StoreRole.VALIDATOR) == ValidatorState.AUDITED
    (verdict,) = store.verdict(task_id).verdicts
    assert verdict["miner"] == setup.miner and verdict["vote"] == int(Vote.PASS), verdict
    assert verdict["audited"] == setup.params.audit_rollouts


def test_a_miner_nobody_serves_is_recorded_unavailable_when_the_retry_budget_is_spent(
    unreachable_miner, chain_for, clock
) -> None:
    """The validator's clock is the chain's here (on a live chain the two agree), so moving the
    chain past the last retry spends the budget without waiting for it. The next attempt gives up:
    every challenged rollout is `missing`, the vote UNAVAILABLE (never a FAIL: not attributable),
    stored with the audits in one step; then the verdict is committed on chain like any other."""
    from node.store import Role as StoreRole
    from node.store import ValidatorState
    from node.tasks.view import DEADLINE_MARGIN, task_view

    setup = unreachable_miner
    validator, store, task_id = setup.validator, setup.store, setup.task_id
    validator.clock = lambda: float(chain_for(VALIDATOR).timestamp())
    first_audit_waits(setup)
    progress = validator.progress[task_id]
    tv = task_view(validator.ctx, task_id)
    last_try = validator.last_try(tv, progress)
    assert validator.may_retry(tv, progress)
    # Past the last retry, still before the verdict deadline's margin; and past the backoff.
    clock.warp_to(int(last_try) + 1)
    assert validator.clock() < setup.params.verdict_deadline - DEADLINE_MARGIN
    assert not validator.may_retry(tv, progress)

    deadline = time.monotonic() + 60  # the 2 s backoff before the next attempt is real time
    while store.task_state(task_id, StoreRole.VALIDATOR) == ValidatorState.CHALLENGED:
        assert time.monotonic() < deadline, "the validator never gave up on the miner"
        validator.advance(task_id)
        time.sleep(0.5)
    assert store.task_state(task_id, StoreRole.VALIDATOR) == ValidatorState.AUDITED
    assert progress.attempts == 1  # given up at the second attempt, without scheduling a third
    (verdict,) = store.verdict(task_id).verdicts
    assert verdict["miner"] == setup.miner
    assert verdict["vote"] == int(Vote.UNAVAILABLE) and verdict["check"] == 0, verdict
    assert verdict["score"] == 0 and verdict["audited"] == setup.params.audit_rollouts
    audits = store.audits(task_id)
    assert len(audits) == setup.params.audit_rollouts
    assert all(not a.passed and a.reason.startswith("missing") for a in audits), audits
    assert task_id not in validator.progress  # nothing left to retry

    assert validator.advance(task_id) is True  # the UNAVAILABLE vote is committed on chain
    assert store.task_state(task_id, StoreRole.VALIDATOR) == ValidatorState.VERDICT_COMMITTED
