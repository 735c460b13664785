"""The operator's commands on a real Anvil with fresh contracts: stake add|unstake|withdraw, claim,
balance, task list|show|cancel and doctor, as an operator runs them (the CLI, --json)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from node.cli import app
from node.config import UserError
from node.ops.money import stake_to_add

RPT = 10**18
PASSPHRASE = "correct horse"
runner = CliRunner()


@pytest.fixture
def operator(tmp_path: Path, anvil, accounts, deployment) -> dict[str, str]:
    """The environment of an operator of accounts[1]: keystore, deployment file, RPC, data dir."""
    from chain.keys import create_keystore

    keystore = tmp_path / "keys" / "op.json"
    create_keystore(keystore, PASSPHRASE, private_key=bytes(accounts[1].key), kdf="pbkdf2", iterations=2)
    deployment_file = deployment.save(tmp_path / "deployment.json")
    return {
        "ROLLPROOF_CONFIG": "",
        "ROLLPROOF_RPC_URL": anvil.rpc_url,
        "ROLLPROOF_DEPLOYMENT": str(deployment_file),
        "ROLLPROOF_KEYSTORE": str(keystore),
        "ROLLPROOF_PASSPHRASE": PASSPHRASE,
        "ROLLPROOF_DATA_DIR": str(tmp_path / "data"),
        "ROLLPROOF_METRICS_PORT": "0",
        "ROLLPROOF_LISTEN": "/ip4/127.0.0.1/tcp/0",
    }


def run(env: dict[str, str], *args: str, code: int = 0):
    result = runner.invoke(app, list(args), env=env)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and "Internal error" not in result.output
    return result


def run_json(env: dict[str, str], *args: str) -> dict:
    return json.loads(run(env, *args, "--json").stdout)


def test_stake_to_add_tops_up_to_the_target_and_refuses_a_target_below_the_minimum() -> None:
    assert stake_to_add(100 * RPT, 50 * RPT, 100 * RPT, "miner") == 50 * RPT  # only what is missing
    assert stake_to_add(100 * RPT, 100 * RPT, 100 * RPT, "miner") == 0
    assert stake_to_add(150 * RPT, 0, 100 * RPT, "miner") == 150 * RPT
    with pytest.raises(UserError, match="below the miner minimum of 100 RPT"):
        stake_to_add(50 * RPT, 0, 100 * RPT, "miner")


def test_stake_add_unstake_withdraw_and_balance(operator, accounts, chain, clock) -> None:
    me = accounts[1].address
    nonce = chain.w3.eth.get_transaction_count(me)
    low = run(operator, "stake", "add", "50", code=1)
    assert "below the miner minimum of 100 RPT" in low.output
    assert chain.w3.eth.get_transaction_count(me) == nonce  # refused before any transaction
    assert "not an RPT amount" in run(operator, "stake", "add", "lots", code=1).output

    added = run_json(operator, "stake", "add", "100 RPT")
    assert (added["added_rpt"], added["active_rpt"]) == ("100", "100")
    run(operator, "stake", "add", "0.5", "--role", "miner")
    balance = run_json(operator, "balance")
    miner = balance["stakes"][0]
    assert (balance["address"], miner["role"], miner["active_rpt"]) == (me, "miner", "100.5")
    assert balance["rpt"] == "9899.5"
    assert int(balance["eth_wei"]) > 0 and balance["claimable_rpt"] == "0"

    text = run(operator, "stake", "unstake", "50.5").output
    assert "50.5 RPT cooling until" in text and "below the miner minimum" in text
    early = run(operator, "stake", "withdraw", code=1)
    assert "cooling down until" in early.output
    cooling = run_json(operator, "balance")["stakes"][0]
    assert (cooling["active_rpt"], cooling["cooling_rpt"]) == ("50", "50.5")
    clock.increase_time(3601)
    clock.mine()
    withdrawn = run_json(operator, "stake", "withdraw")
    assert withdrawn["withdrawn_rpt"] == "50.5"
    after = run_json(operator, "balance")
    assert after["stakes"][0]["cooling_rpt"] == "0" and after["rpt"] == "9950"
    assert "no miner stake cooling down" in run(operator, "stake", "withdraw", code=1).output
    assert "Nothing to claim" in run(operator, "claim").output


def test_task_list_show_and_cancel(operator, accounts, chain_for, task_params) -> None:
    proposer = chain_for(1)  # the operator's own account
    other = chain_for(2)
    mine = proposer.board.post_task(task_params(reward=7 * RPT))
    theirs = other.board.post_task(task_params(reward=3 * RPT))
    listed = run_json(operator, "task", "list")["tasks"]
    assert [t["task_id"] for t in listed] == [theirs, mine]
    assert listed[1]["reward_rpt"] == "7" and listed[1]["status"] == "open" and listed[1]["phase"] == "join"
    assert [t["task_id"] for t in run_json(operator, "task", "list", "--mine")["tasks"]] == [mine]
    shown = run_json(operator, "task", "show", str(mine))
    assert (
        shown["proposer"] == accounts[1].address
        and shown["miners"] == []
        and shown["env"] == "basic_arithmetic"
    )
    assert "There is no task 99" in run(operator, "task", "show", "99", code=1).output
    refused = run(operator, "task", "cancel", str(theirs), code=1)
    assert "only its proposer" in refused.output
    before = proposer.token.balance_of(accounts[1].address)
    cancelled = run_json(operator, "task", "cancel", str(mine))
    assert cancelled["refunded_rpt"] == "7"
    assert proposer.token.balance_of(accounts[1].address) == before + 7 * RPT
    assert run_json(operator, "task", "show", str(mine))["status"] == "cancelled"
    assert "only an open task" in run(operator, "task", "cancel", str(mine), code=1).output


@pytest.fixture
def wall_beacon():
    """A devnet beacon on this machine's clock: the session's beacon follows the session Anvil, whose
    clock other tests warp ahead, so its genesis can lie in this machine's future (no round yet)."""
    import time

    from node.devnet.beacon import DevnetBeacon

    return DevnetBeacon.from_seed(genesis_time=(int(time.time()) - 60) // 60 * 60)


@pytest.fixture
def wall_beacon_config(wall_beacon, beacon_config_for):
    return beacon_config_for(wall_beacon)


@pytest.fixture
def beacon_url(wall_beacon):
    from node.devnet.beacon import BeaconServer

    server = BeaconServer(wall_beacon).start()
    yield server.url
    server.stop()


def checks(report: dict) -> dict[str, dict]:
    return {c["name"]: c for c in report["checks"]}


@pytest.fixture
def own_chain(tmp_path: Path, accounts, wall_beacon_config, deploy_params):
    """An Anvil of this test alone: the session's Anvil is time-warped by other tests, and a chain
    whose clock runs ahead of this machine's is one of the faults doctor names."""
    from chain.anvil import Anvil, AnvilConfig
    from chain.clients import Chain
    from chain.deploy import deploy_all
    from chain.tx import make_web3

    with Anvil(AnvilConfig()) as node:
        w3 = make_web3(node.rpc_url)
        deployment = deploy_all(w3, accounts[0], wall_beacon_config, deploy_params)
        owner = Chain(w3, deployment, None).as_account(accounts[0])
        owner.token.mint(accounts[1].address, 1_000 * RPT)
        Chain(w3, deployment, None).as_account(accounts[1]).stakes.stake(0, 100 * RPT)
        yield node.rpc_url, deployment.save(tmp_path / "own-deployment.json")


def test_doctor_prints_all_ok_on_a_healthy_node_and_names_each_fault(operator, own_chain, beacon_url) -> None:
    rpc_url, deployment_file = own_chain
    healthy = {
        **operator,
        "ROLLPROOF_BEACON_URL": beacon_url,
        "ROLLPROOF_RPC_URL": rpc_url,
        "ROLLPROOF_DEPLOYMENT": str(deployment_file),
    }
    result = run(healthy, "doctor")
    assert result.output.strip().endswith("All OK."), result.output
    assert "FAULT" not in result.output
    names = set(checks(run_json(healthy, "doctor")))
    assert {
        "rpc",
        "chain id",
        "contracts",
        "beacon contract",
        "beacon relay",
        "clock vs beacon",
        "gas",
    } <= names
    assert {"miner stake", "keystore", "peer id"} <= names

    def fault(env: dict[str, str], name: str, *args: str) -> str:
        result = runner.invoke(app, ["doctor", "--json", *args], env=env)
        assert result.exit_code == 1, result.output
        report = json.loads(result.stdout)
        failed = {c["name"]: c["detail"] for c in report["checks"] if not c["ok"]}
        assert name in failed, failed
        return failed[name]

    assert "Cannot reach the chain RPC" in fault(
        {**healthy, "ROLLPROOF_RPC_URL": "http://127.0.0.1:9"}, "rpc"
    )
    assert "a miner reads drand rounds" in fault(operator, "beacon relay")
    assert "0 RPT active, minimum 100 RPT" in fault(healthy, "validator stake", "--role", "validator")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert "in use" in fault(healthy, "p2p port", "--listen", f"/ip4/127.0.0.1/tcp/{port}")
        assert "in use" in fault(healthy, "metrics port", "--metrics-port", str(port))
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = closed.getsockname()[1]
    assert "cannot connect" in fault(
        healthy, "peer", "--bootstrap", f"/ip4/127.0.0.1/tcp/{dead}/p2p/16Uiu2HAmX"
    )
    stale = json.loads(deployment_file.read_text())
    stale["addresses"]["Settlement"] = "0x" + "11" * 20
    stale_file = Path(operator["ROLLPROOF_DATA_DIR"]).parent / "stale.json"
    stale_file.write_text(json.dumps(stale))
    assert "is stale" in fault({**healthy, "ROLLPROOF_DEPLOYMENT": str(stale_file)}, "contracts")
    poor = {**healthy, "ROLLPROOF_KEYSTORE": _empty_keystore(stale_file.parent)}
    assert "send at least" in fault(poor, "gas")
    assert "rollproof stake add 100 --role miner" in fault(poor, "miner stake")
    from chain.tx import make_web3

    w3 = make_web3(rpc_url)
    w3.provider.make_request("evm_increaseTime", [3600])
    w3.provider.make_request("evm_mine", [])
    assert "this clock is behind" in fault(healthy, "clock vs chain")


def _empty_keystore(directory: Path) -> str:
    from chain.keys import create_keystore

    path = directory / "poor.json"
    create_keystore(path, PASSPHRASE, kdf="pbkdf2", iterations=2)
    return str(path)


def test_balance_shows_the_stake_a_joined_task_locks(operator, accounts, chain_for, task_params) -> None:
    import secrets

    from chain.clients import forced_error_commitment
    from node.ops.common import rpt_text

    me = chain_for(1)
    me.stakes.stake(0, 100 * RPT)
    task_id = chain_for(2).board.post_task(task_params(reward=50 * RPT))
    lock = me.settlement.lock_amount(task_id)
    assert lock > 0
    before = run_json(operator, "balance")["stakes"][0]
    assert before["locked_rpt"] == "0"
    me.settlement.join(
        task_id, b"\x01" * 32, forced_error_commitment(task_id, me.address, secrets.token_bytes(32))
    )
    row = run_json(operator, "balance")["stakes"][0]
    assert (row["active_rpt"], row["locked_rpt"]) == ("100", rpt_text(lock))
    assert f"{rpt_text(lock)} RPT locked in tasks" in run(operator, "balance").output


def test_status_reads_task_states_from_the_chain_and_peers_from_the_running_node(
    operator, accounts, chain_for, task_params, clock, devnet_beacon
) -> None:
    """The store still says JOINED, the chain says finalized: status shows the chain's word; the
    connected peers come from the running node's /metrics, not from the store."""
    from node.metrics import LiveSources, NodeMetrics, start_metrics_server
    from node.store import MinerState, Role, open_store

    board = chain_for(2)
    params = task_params(step=60)
    task_id = board.board.post_task(params)
    clock.warp_to(params.verify_deadline + 1)
    board.beacon.record_beacon(
        *devnet_beacon.sign(board.board.get_task(task_id).challenge_round).onchain_args()
    )
    board.settlement.finalize(task_id)
    store = open_store(f"sqlite:///{Path(operator['ROLLPROOF_DATA_DIR']) / 'node.db'}")
    store.upsert_task(task_id)
    store.track_task(task_id, Role.MINER)
    store.transition(task_id, Role.MINER, MinerState.JOINED)
    port = _free_port()
    env = {**operator, "ROLLPROOF_METRICS_PORT": str(port)}
    stopped = run_json(env, "status")
    assert stopped["peers_connected"] is None and any("not running" in n for n in stopped["notes"])
    server = start_metrics_server(NodeMetrics(store=store, live=LiveSources()), port)
    try:
        status = run_json(env, "status")
    finally:
        server.shutdown()
        store.close()
    (line,) = [t for t in status["tasks"] if t["task_id"] == task_id]
    assert (line["state"], line["chain_status"], line["phase"]) == ("JOINED", "finalized", "finalized")
    assert status["peers_connected"] == 0 and status["peers_registered"] == 0
    text = run(env, "status").output
    assert "finalized" in text and "Peers connected: node not running" in text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_role_with_stake_100_over_50_staked_stakes_the_missing_50_and_logs_it_in_rpt(
    chain_for, accounts, caplog
) -> None:
    """The roles' start-up (node.staking.check_stake / ensure_staked) on a real chain."""
    import logging
    from types import SimpleNamespace

    from node.runtime.errors import RoleError
    from node.staking import check_stake, ensure_staked

    me = chain_for(1)
    me.stakes.stake(0, 50 * RPT)  # below the 100 RPT minimum: the contract allows it, the node tops it up
    ctx = SimpleNamespace(chain=me, address=me.address, settings=SimpleNamespace(stake=100 * RPT))
    assert check_stake(ctx, 0) == 50 * RPT
    with caplog.at_level(logging.INFO, logger="rollproof.roles"):
        ensure_staked(ctx, 0)
    assert me.stakes.active_stake(me.address, 0) == 100 * RPT  # not 150
    (record,) = [r for r in caplog.records if r.getMessage().startswith("staked")]
    assert record.getMessage() == "staked 50 RPT as miner"
    assert record.fields == {"role": "miner", "amount_rpt": "50 RPT"}
    assert check_stake(ctx, 0) == 0  # at the target: nothing more
    nonce = me.w3.eth.get_transaction_count(me.address)
    low = SimpleNamespace(chain=me, address=me.address, settings=SimpleNamespace(stake=50 * RPT))
    with pytest.raises(RoleError, match="--stake 50 RPT is below the miner minimum of 100 RPT"):
        check_stake(low, 0)
    assert me.w3.eth.get_transaction_count(me.address) == nonce


def test_deployment_add_peer_puts_this_nodes_announced_address_in_the_file_nodes_read(operator) -> None:
    from chain.keys import identity_path_for, load_identity_secret
    from node.p2p import deployment_bootstrap, peer_id_from_secret

    own = peer_id_from_secret(load_identity_secret(identity_path_for(operator["ROLLPROOF_KEYSTORE"])))
    env = {**operator, "ROLLPROOF_ANNOUNCE": "/ip4/10.0.0.1/tcp/4001"}
    assert run_json(env, "deployment", "peers")["bootstrap"] == []
    # No address: this node's --announce address with its own peer id (the first operator's step).
    first = run_json(env, "deployment", "add-peer")
    mine = f"/ip4/10.0.0.1/tcp/4001/p2p/{own.to_base58()}"
    assert first["added"] == [mine] and first["bootstrap"] == [mine]
    # A full multiaddr of another node; adding the same again changes nothing.
    other = "/ip4/10.0.0.2/tcp/4001/p2p/16Uiu2HAmLjjMtCuiTW4DXZ9eRiHzfJJVKKATA7LCymqFELZwo9Sa"
    run(env, "deployment", "add-peer", other, mine)
    again = run_json(env, "deployment", "add-peer", other)
    assert again["added"] == [] and again["bootstrap"] == [mine, other]
    # What every node reads at start, and the rest of the file untouched.
    path = operator["ROLLPROOF_DEPLOYMENT"]
    assert deployment_bootstrap(path) == [mine, other]
    assert json.loads(Path(path).read_text())["chain_id"] == 31337
    assert mine in run(env, "deployment", "peers").output
