"""Every subcommand's failure paths, as an operator meets them: bad flags, missing files, an
unreachable RPC, a stale deployment file, no terminal. Each row asserts the exit code and the
sentence, and that no row ends in "Internal error" or a traceback.
"""

from __future__ import annotations

import fcntl
import json
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from node.cli import app

PASSPHRASE = "correct horse"
runner = CliRunner()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class World:
    """Files and endpoints the rows point at (built once per test by the fixture)."""

    tmp: Path
    rpc_url: str
    deployment: Path
    stale_deployment: Path
    keystore: Path
    beacon_round2_signature: str

    def env(self, **extra: str) -> dict[str, str]:
        base = {
            "ROLLPROOF_CONFIG": "",
            "ROLLPROOF_PASSPHRASE": PASSPHRASE,
            "ROLLPROOF_RPC_URL": self.rpc_url,
            "ROLLPROOF_DEPLOYMENT": str(self.deployment),
            "ROLLPROOF_KEYSTORE": str(self.keystore),
            "ROLLPROOF_DATA_DIR": str(self.tmp / "data"),
            "ROLLPROOF_METRICS_PORT": "0",
            "ROLLPROOF_LISTEN": "/ip4/127.0.0.1/tcp/0",
            "ROLLPROOF_MODEL": "tiny",
            "ROLLPROOF_BEACON_URL": "",
            "HF_HUB_OFFLINE": "1",
        }
        base.update(extra)
        return base


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, anvil, accounts, beacon_config, devnet_beacon) -> World:
    """One deployment for every row (the rows only read the chain, or fail before sending)."""
    from chain.deploy import DeployParams, deploy_all
    from chain.keys import create_keystore
    from chain.tx import make_web3

    rpt = 10**18
    params = DeployParams(min_stake_miner=100 * rpt, cooldown=3600, max_task_duration=1800)
    deployment = deploy_all(make_web3(anvil.rpc_url), accounts[0], beacon_config, params)
    tmp_path = tmp_path_factory.mktemp("error-paths")
    keystore = tmp_path / "keys" / "node.json"
    create_keystore(keystore, PASSPHRASE, private_key=bytes(accounts[3].key), kdf="pbkdf2", iterations=2)
    good = deployment.save(tmp_path / "deployment.json")
    data = json.loads(good.read_text())
    # What an Anvil restart leaves behind: the same chain id, no code at the old addresses.
    data["addresses"] = {name: "0x" + f"{i + 1:02x}" * 20 for i, name in enumerate(data["addresses"])}
    stale = tmp_path / "stale-deployment.json"
    stale.write_text(json.dumps(data))
    return World(tmp_path, anvil.rpc_url, good, stale, keystore, devnet_beacon.sign(2).signature.hex())


@dataclass
class Row:
    name: str
    args: Callable[[World], list[str]]
    code: int
    says: str
    env: Callable[[World], dict[str, str]] = lambda w: w.env()


DEAD_RPC = "http://127.0.0.1:9"


def _dead(w: World) -> dict[str, str]:
    return w.env(ROLLPROOF_RPC_URL=DEAD_RPC)


def _stale(w: World) -> dict[str, str]:
    return w.env(ROLLPROOF_DEPLOYMENT=str(w.stale_deployment))


def _missing(w: World) -> dict[str, str]:
    return w.env(ROLLPROOF_DEPLOYMENT=str(w.tmp / "nowhere.json"))


def _no_passphrase(w: World) -> dict[str, str]:
    env = w.env()
    env.pop("ROLLPROOF_PASSPHRASE")
    return env


def _beacon(w: World) -> dict[str, str]:
    return w.env(ROLLPROOF_BEACON_URL="http://127.0.0.1:9")


def _broken_config_env(w: World) -> dict[str, str]:
    env = w.env(ROLLPROOF_KEYSTORE="", ROLLPROOF_DEPLOYMENT=str(w.tmp / "nowhere.json"))
    env.pop("ROLLPROOF_MODEL")  # the file's model counts
    return env


def _beacon_only(w: World) -> dict[str, str]:
    return {"ROLLPROOF_BEACON_URL": "http://127.0.0.1:9"}


def _toml(w: World, text: str) -> Path:
    path = w.tmp / f"c{abs(hash(text))}.toml"
    path.write_text(text)
    return path


ROWS = [
    # money and tasks
    Row("stake add: no amount", lambda w: ["stake", "add"], 2, "Missing argument"),
    Row("stake add: not an amount", lambda w: ["stake", "add", "ten"], 1, "is not an RPT amount"),
    Row(
        "stake add: unknown role",
        lambda w: ["stake", "add", "100", "--role", "boss"],
        1,
        "Unknown role 'boss'",
    ),
    Row(
        "stake add: unreachable RPC",
        lambda w: ["stake", "add", "100"],
        1,
        "Cannot reach the chain RPC",
        _dead,
    ),
    Row("stake add: stale deployment", lambda w: ["stake", "add", "100"], 1, "is stale", _stale),
    Row(
        "stake add: no terminal", lambda w: ["stake", "add", "100"], 1, "no passphrase given", _no_passphrase
    ),
    Row("stake unstake: nothing staked", lambda w: ["stake", "unstake", "all"], 1, "no active miner stake"),
    Row("stake withdraw: nothing cooling", lambda w: ["stake", "withdraw"], 1, "no miner stake cooling down"),
    Row("claim: no terminal", lambda w: ["claim"], 1, "no passphrase given", _no_passphrase),
    Row(
        "balance: no keystore", lambda w: ["balance"], 1, "No account", lambda w: w.env(ROLLPROOF_KEYSTORE="")
    ),
    Row("balance: bad address", lambda w: ["balance", "--address", "0x12"], 1, "is not an Ethereum address"),
    Row("balance: missing deployment", lambda w: ["balance"], 1, "does not exist", _missing),
    Row("balance: unreachable RPC", lambda w: ["balance"], 1, "Cannot reach the chain RPC", _dead),
    Row("balance: stale deployment", lambda w: ["balance"], 1, "is stale", _stale),
    Row("task show: no such task", lambda w: ["task", "show", "99"], 1, "There is no task 99"),
    Row("task show: bad id", lambda w: ["task", "show", "0"], 2, "Invalid value"),
    Row("task list: bad status", lambda w: ["task", "list", "--status", "lost"], 1, "Unknown status 'lost'"),
    Row("task cancel: stale deployment", lambda w: ["task", "cancel", "1"], 1, "is stale", _stale),
    Row("doctor: unreachable RPC", lambda w: ["doctor"], 1, "FAULT rpc", _dead),
    Row("doctor: unknown role", lambda w: ["doctor", "--role", "boss"], 1, "Unknown role 'boss'"),
    Row("audit: missing deployment", lambda w: ["audit", "1"], 1, "does not exist", _missing),
    Row("audit: stale deployment", lambda w: ["audit", "1"], 1, "is stale", _stale),
    # status
    Row("status: unreachable RPC", lambda w: ["status"], 1, "Cannot reach the chain RPC", _dead),
    Row("status: stale deployment", lambda w: ["status"], 1, "is stale", _stale),
    # roles
    Row("miner: no --beacon-url", lambda w: ["miner"], 1, "reads drand beacons"),
    Row("validator: no --beacon-url", lambda w: ["validator"], 1, "reads drand beacons"),
    Row(
        "miner: stale deployment",
        lambda w: ["miner"],
        1,
        "is stale",
        lambda w: {**_stale(w), **_beacon_only(w)},
    ),
    Row(
        "miner: unreachable RPC",
        lambda w: ["miner"],
        1,
        "Cannot reach the chain RPC",
        lambda w: {**_dead(w), **_beacon_only(w)},
    ),
    Row(
        "miner: no terminal",
        lambda w: ["miner"],
        1,
        "no passphrase given",
        lambda w: {**_no_passphrase(w), **_beacon_only(w)},
    ),
    Row(
        "miner: --stake below minimum in TOML types",
        lambda w: ["miner", "--stake", "-5"],
        1,
        "non-negative RPT amount",
        _beacon,
    ),
    Row("proposer: missing deployment", lambda w: ["proposer"], 1, "does not exist", _missing),
    # setup commands
    Row(
        "keys import: no terminal",
        lambda w: ["keys", "import", "--keystore", str(w.tmp / "k.json")],
        1,
        "no terminal to ask for the private key",
        _no_passphrase,
    ),
    Row(
        "keys new: no terminal",
        lambda w: ["keys", "new", "--keystore", str(w.tmp / "k.json")],
        1,
        "no passphrase given",
        _no_passphrase,
    ),
    Row(
        "keys show: missing keystore",
        lambda w: ["keys", "show", "--keystore", str(w.tmp / "none.json")],
        1,
        "does not exist",
    ),
    Row(
        "keys register: stale deployment",
        lambda w: [
            "keys",
            "register",
            "--keystore",
            str(w.keystore),
            "--deployment",
            str(w.stale_deployment),
        ],
        1,
        "deployment file",
    ),
    Row(
        "deploy: old --rpc spelling",
        lambda w: ["deploy", "--rpc", w.rpc_url, "--anvil-account", "0"],
        2,
        "No such option",
    ),
    Row(
        "deploy: unreachable RPC",
        lambda w: ["deploy", "--rpc-url", DEAD_RPC, "--anvil-account", "0", "--out", str(w.tmp / "d.json")],
        1,
        "did not answer",
    ),
    Row(
        "deploy: file exists",
        lambda w: ["deploy", "--rpc-url", w.rpc_url, "--anvil-account", "0", "--out", str(w.deployment)],
        1,
        "already exists",
    ),
    Row(
        "beacon verify: does not verify",
        lambda w: [
            "beacon",
            "verify",
            "--chain",
            "devnet",
            "--round",
            "1",
            "--signature",
            w.beacon_round2_signature,
        ],
        1,
        "verify",
    ),
    Row(
        "beacon verify: not hex",
        lambda w: ["beacon", "verify", "--round", "1", "--signature", "zz"],
        1,
        "not valid hex",
    ),
    # the deployment file's bootstrap peers
    Row(
        "deployment peers: missing deployment",
        lambda w: ["deployment", "peers"],
        1,
        "does not exist",
        _missing,
    ),
    Row(
        "deployment add-peer: not dialable",
        lambda w: ["deployment", "add-peer", "/ip4/0.0.0.0/tcp/4001"],
        1,
        "is not a dialable address",
    ),
    Row(
        "deployment add-peer: bad peer id",
        lambda w: ["deployment", "add-peer", "/ip4/10.0.0.1/tcp/4001/p2p/xyz"],
        1,
        "is not a libp2p peer id",
    ),
    Row(
        "deployment add-peer: no address, no announce",
        lambda w: ["deployment", "add-peer"],
        1,
        "set this node's --announce",
    ),
    Row(
        "deployment add-peer: no identity for a bare address",
        lambda w: ["deployment", "add-peer", "/ip4/10.0.0.1/tcp/4001"],
        1,
        "takes this node's peer id from its identity key",
        lambda w: w.env(ROLLPROOF_KEYSTORE=""),
    ),
    Row(
        "deployment add-peer: missing deployment",
        lambda w: ["deployment", "add-peer", "/ip4/10.0.0.1/tcp/4001"],
        1,
        "does not exist",
        _missing,
    ),
    Row(
        "deployment add-peer: not JSON",
        lambda w: ["deployment", "add-peer", "/ip4/10.0.0.1/tcp/4001", "--deployment", str(_toml(w, "{"))],
        1,
        "cannot be read as JSON",
    ),
    # configuration
    Row(
        "config check: unknown key",
        lambda w: ["config", "check", "--config", str(_toml(w, "[chain]\nrpc = 'x'\n"))],
        1,
        "unknown key 'rpc'",
    ),
    Row(
        "config check: broken",
        lambda w: ["config", "check", "--config", str(_toml(w, "[model]\nmodel = 'tinny'\n"))],
        1,
        "3 problem(s)",
        _broken_config_env,
    ),
    Row(
        "config show: missing file",
        lambda w: ["config", "show", "--config", str(w.tmp / "none.toml")],
        1,
        "does not exist",
    ),
]


def normalized(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_failure_path(world: World, row: Row) -> None:
    ctrl_c = signal.getsignal(signal.SIGINT)
    result = runner.invoke(app, row.args(world), env=row.env(world))
    output = result.output
    assert result.exit_code == row.code, output
    assert row.says.lower() in normalized(output).lower(), output
    assert "Traceback" not in output and "Internal error" not in output, output
    assert signal.getsignal(signal.SIGINT) is ctrl_c  # a role that failed gives Ctrl-C back


def test_beacon_serve_on_a_busy_port_exits_non_zero() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = runner.invoke(app, ["beacon", "serve", "--port", str(busy.getsockname()[1])], env={})
    assert result.exit_code == 1, result.output
    assert "Cannot listen on 127.0.0.1" in result.output


def test_a_second_node_with_the_same_keystore_is_refused(world: World) -> None:
    with open(world.keystore, "rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # a running node holds its keystore
        result = runner.invoke(app, ["miner"], env={**world.env(), **_beacon_only(world)})
    assert result.exit_code == 1, result.output
    assert "already running with the keystore" in normalized(result.output)


def test_a_proposer_with_every_task_settled_says_so(world: World) -> None:
    from node.store import ProposerState, Role, open_store

    store = open_store(f"sqlite:///{world.tmp / 'data' / 'node.db'}")
    store.upsert_task(1)
    store.track_task(1, Role.PROPOSER)
    store.transition(1, Role.PROPOSER, ProposerState.FINALIZED)
    store.transition(1, Role.PROPOSER, ProposerState.CLAIMED)
    store.close()
    ctrl_c = signal.getsignal(signal.SIGINT)
    result = runner.invoke(app, ["proposer", "--tasks", "1"], env=world.env())
    assert result.exit_code == 1, result.output
    assert "nothing left to post; pass --tasks 2 to post 1 more" in normalized(result.output)
    # The role ran in this process: pytest's own Ctrl-C handling is back once it returned.
    assert signal.getsignal(signal.SIGINT) is ctrl_c


def test_the_port_pre_check_lets_a_restarted_node_reuse_a_port_in_time_wait() -> None:
    """Ctrl-C leaves the killed node's accepted connections in TIME_WAIT; the restart must not wait."""
    from node.cli import check_port_free

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()  # the server side closes first: its end of the connection sits in TIME_WAIT
    client.close()
    server.close()
    check_port_free("127.0.0.1", port, "p2p listen", "pick another")  # no error


def test_toml_takes_numeric_stakes_and_the_flat_beacon_url_name(tmp_path: Path) -> None:
    from node.config import load_config

    path = tmp_path / "node.toml"
    path.write_text(
        '[miner]\nstake = 100\n[validator]\nstake = 0.5\n[beacon]\nbeacon_url = ["http://127.0.0.1:8089"]\n'
    )
    cfg = load_config(path, env={})
    assert (cfg.miner.stake, cfg.validator.stake, cfg.beacon.urls) == (
        "100",
        "0.5",
        ["http://127.0.0.1:8089"],
    )
    path.write_text("[miner]\nstake = true\n")
    with pytest.raises(Exception, match=r"\[miner\] stake .* must be a string, not True"):
        load_config(path, env={})
