"""`rollproof audit TASK` on a task settled on a real Anvil: the real tiny model generates an honest
miner's rollouts and a cheater's (tokens swapped after sampling); a colluding validator passes both;
the audit recomputes the challenged openings from the node's store and names the one verdict that
differs from the settled outcome."""

from __future__ import annotations

import dataclasses
import json
import secrets
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from chain.clients import Role, Verdict, env_id, forced_error_commitment
from chain.deploy import DeployParams
from node.cli import app

RPT = 10**18
PASSPHRASE = "correct horse"
PROPOSER, HONEST, CHEATER, VALIDATOR = 0, 6, 7, 8


@pytest.fixture
def deploy_params() -> DeployParams:
    """A small committee, and forced errors so rare that neither miner draws one in this test."""
    return DeployParams(
        min_stake_evaluator=10 * RPT,
        cooldown=3600,
        max_task_duration=1800,
        min_audit_time=0,
        committee_seats=4,
        forced_error_odds=10**9,
    )


def test_audit_recomputes_the_challenge_and_names_the_verdict_that_differs(
    tmp_path: Path, anvil, accounts, deployment, chain_for, clock, task_params, devnet_beacon
) -> None:
    from node.envs.letters import NAME as LETTERS
    from node.envs.letters import LettersEnv
    from node.runtime.network import keep_gossiped_rollout, to_wire
    from node.store import open_store
    from verifier.commitments import MerkleTree, leaf_hash
    from verifier.models import model_hash, new_adapter, save_adapter, tiny_model
    from verifier.rollout import TaskSpec
    from verifier.sampler import prove_rollouts
    from verifier.tokenizer import tokenizer_hash

    model, tokenizer = tiny_model()
    policy = new_adapter(model, rank=4, seed=0)
    data_dir = tmp_path / "auditor"
    adapter = save_adapter(policy, data_dir / "adapters" / "tmp")
    (data_dir / "adapters" / "tmp").rename(data_dir / "adapters" / ("0x" + adapter.hex()))

    for i in (HONEST, CHEATER):
        chain_for(i).stakes.stake(Role.MINER, 100 * RPT)
    chain_for(VALIDATOR).stakes.stake(Role.VALIDATOR, 100 * RPT)
    params = task_params(
        step=60,
        env_id=env_id(LETTERS),
        base_model_hash=model_hash(model),
        tokenizer_hash=tokenizer_hash(tokenizer),
        num_problems=2,
        rollouts_per_problem=2,
        max_tokens=8,
    )
    task_id = chain_for(PROPOSER).board.post_task(params)
    task = chain_for(PROPOSER).board.get_task(task_id)
    for i in (HONEST, CHEATER):
        secret = secrets.token_bytes(32)
        chain_for(i).settlement.join(
            task_id, adapter, forced_error_commitment(task_id, accounts[i].address, secret)
        )

    clock.warp_to(params.join_deadline + 1)
    seed = devnet_beacon.sign(task.seed_round)
    chain_for(PROPOSER).beacon.record_beacon(*seed.onchain_args())
    spec = TaskSpec(task_id, 1, 2, 2, 8, 700, seed.randomness)
    store = open_store(f"sqlite:///{data_dir / 'node.db'}")
    committed: dict[int, tuple[list, MerkleTree]] = {}
    for i in (HONEST, CHEATER):
        miner = accounts[i].address
        rollouts = prove_rollouts(policy, tokenizer, LettersEnv(), spec, miner)
        if i == CHEATER:  # a different first token than the sampler drew: the audit recomputes it
            rollouts = [
                dataclasses.replace(r, tokens=((r.tokens[0] + 1) % 1000, *r.tokens[1:])) for r in rollouts
            ]
        tree = MerkleTree.of([leaf_hash(r) for r in rollouts])
        committed[i] = (rollouts, tree)
        chain_for(i).settlement.commit(task_id, tree.root, len(rollouts))
        for r in rollouts:  # the auditor received every rollout by gossip, and kept it as the roles do
            keep_gossiped_rollout(
                SimpleNamespace(store=store), SimpleNamespace(payload=to_wire(r), origin=None)
            )
    store.close()

    clock.warp_to(params.commit_deadline + 1)
    chain_for(PROPOSER).beacon.record_beacon(*devnet_beacon.sign(task.challenge_round).onchain_args())
    colluding = [Verdict.from_pass(accounts[i].address, True, 500_000, 4) for i in (HONEST, CHEATER)]
    salt = secrets.token_bytes(32)
    chain_for(VALIDATOR).settlement.commit_verdict(task_id, colluding, salt)
    clock.warp_to(params.verdict_deadline + 1)
    chain_for(VALIDATOR).settlement.reveal_verdict(task_id, colluding, salt)
    clock.warp_to(params.verify_deadline + 1)
    chain_for(PROPOSER).settlement.finalize(task_id)

    env = {
        "ROLLPROOF_CONFIG": "",
        "ROLLPROOF_RPC_URL": anvil.rpc_url,
        "ROLLPROOF_DEPLOYMENT": str(deployment.save(tmp_path / "deployment.json")),
        "ROLLPROOF_DATA_DIR": str(data_dir),
        "ROLLPROOF_MODEL": "tiny",
        "HF_HUB_OFFLINE": "1",
    }
    runner = CliRunner()
    result = runner.invoke(app, ["audit", str(task_id), "--json"], env=env)
    assert result.exit_code == 1, result.output  # one verdict differs from the chain
    report = {m["miner"]: m for m in json.loads(result.stdout)["miners"]}
    honest, cheater = report[accounts[HONEST].address], report[accounts[CHEATER].address]
    assert honest["passed"] and honest["agrees"] and honest["source"] == "store (gossip)"
    assert honest["chain_outcome"] == "passed" and honest["audited"] == params.audit_rollouts
    assert not cheater["passed"] and cheater["chain_outcome"] == "passed" and cheater["agrees"] is False
    assert cheater["failures"]
    text = runner.invoke(app, ["audit", str(task_id)], env=env).output
    assert "DIFFERS" in text and "1 verdict(s) differ" in text
    only_honest = runner.invoke(app, ["audit", str(task_id), "--miner", accounts[HONEST].address], env=env)
    assert only_honest.exit_code == 0, only_honest.output
    assert "Every verdict matches the outcome settled on chain." in only_honest.output

    # A node without the gossip asks the miner's peer (bound to its account on chain) instead.
    from node.p2p import P2PConfig, P2PNode

    identity = secrets.token_bytes(32)
    chain_for(HONEST).stakes.register_peer(identity)
    rollouts, tree = committed[HONEST]

    def serve(task: int, miner: str, pairs: list[tuple[int, int]]) -> list:
        return [(to_wire(rollouts[p * 2 + g]), tree.proof(leaf_hash(rollouts[p * 2 + g]))) for p, g in pairs]

    config = P2PConfig(listen_addr="/ip4/127.0.0.1/tcp/0", eclipse_protection=False)
    miner_node = P2PNode(config, bytes(accounts[HONEST].key), lambda a: True, identity_secret=identity)
    miner_node.serve_openings(serve)
    miner_node.start()
    try:
        elsewhere = tmp_path / "elsewhere"  # no store: nothing was received by gossip here
        (elsewhere / "adapters").mkdir(parents=True)
        (data_dir / "adapters" / ("0x" + adapter.hex())).rename(
            elsewhere / "adapters" / ("0x" + adapter.hex())
        )
        remote = runner.invoke(
            app,
            ["audit", str(task_id), "--miner", accounts[HONEST].address, "--json"],
            env={
                **env,
                "ROLLPROOF_DATA_DIR": str(elsewhere),
                "ROLLPROOF_BOOTSTRAP": miner_node.listen_addrs[0],
            },
        )
    finally:
        miner_node.stop()
    assert remote.exit_code == 0, remote.output
    (line,) = json.loads(remote.stdout)["miners"]
    assert (line["source"], line["passed"], line["agrees"]) == ("peer", True, True)
