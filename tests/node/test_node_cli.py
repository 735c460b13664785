"""The `rollproof` CLI: help for every command, and bad input as sentences with non-zero exits.

Bad-input checks run before anything touches the chain; the chain-backed ones assert the
account's nonce did not move (nothing half-done on chain).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from node.cli import app

runner = CliRunner()
PASSPHRASE = "correct horse"
ROLES = ["miner", "validator", "proposer", "evaluator"]


def invoke(args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None):
    base = {"ROLLPROOF_CONFIG": "", "HF_HUB_OFFLINE": "1"}
    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return runner.invoke(app, args, env={**base, **(env or {})})
    finally:
        os.chdir(old)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_sentence(result, code: int, *fragments: str) -> None:
    text = result.output
    assert result.exit_code == code, text
    assert "Traceback" not in text
    assert "Error:" in text
    for fragment in fragments:
        assert fragment in " ".join(text.split()), text


@pytest.fixture
def keystore(tmp_path: Path) -> Path:
    from chain.keys import create_keystore

    path = tmp_path / "keys" / "node.json"
    create_keystore(path, PASSPHRASE, kdf="pbkdf2", iterations=2)
    return path


def role_args(tmp_path: Path, keystore: Path | None, *extra: str) -> list[str]:
    args = ["--data-dir", str(tmp_path / "data"), "--metrics-port", "0", "--listen", "/ip4/127.0.0.1/tcp/0"]
    if keystore is not None:
        args += ["--keystore", str(keystore)]
    return [*args, *extra]


# ---- help ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [[], *[[r] for r in ROLES], ["devnet"], ["status"], ["config"], ["config", "init"], ["config", "show"]]
    + [["config", "check"], ["bench"], ["bench", "verify"]]
    + [["stake"], ["stake", "add"], ["stake", "unstake"], ["stake", "withdraw"], ["claim"], ["balance"]]
    + [["task"], ["task", "list"], ["task", "show"], ["task", "cancel"], ["doctor"], ["audit"]]
    + [["deployment"], ["deployment", "peers"], ["deployment", "add-peer"]],
)
def test_help_for_every_command(command: list[str]) -> None:
    result = invoke([*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


@pytest.mark.parametrize("role", ROLES)
def test_role_help_lists_options_with_env_vars(role: str) -> None:
    text = " ".join(invoke([role, "--help"]).output.split())
    for fragment in ("--rpc-url", "ROLLPROOF_RPC_URL", "--keystore", "--metrics-port", "--model", "--config"):
        assert fragment in text
    assert f"ROLLPROOF_{role.upper()}_" in text.replace("│ ", "").replace(" │", "") or role == "proposer"


def test_root_help_explains_and_lists_every_command() -> None:
    text = invoke(["--help"]).output
    assert "proof-of-rollout" in text
    for name in [*ROLES, "devnet", "status", "deploy", "keys", "beacon", "bench", "config"]:
        assert f" {name} " in text, name


@pytest.mark.parametrize(
    ("command", "module"), [("keys", "chain.cli"), ("deploy", "chain.cli"), ("beacon", "node.beacon_cli")]
)
def test_forwarded_commands_show_their_help_or_say_they_are_missing(command: str, module: str) -> None:
    result = invoke([command, "--help"])
    if result.exit_code == 0:
        assert "Usage: rollproof " + command in " ".join(result.output.split())
    else:
        assert_sentence(result, 1, "not available in this build", module)


def test_console_script_runs_without_traceback(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("rollproof")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ROLLPROOF_CONFIG": ""}
    ok = subprocess.run([str(exe), "--help"], capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0 and "miner" in ok.stdout
    bad = subprocess.run(
        [str(exe), "miner", "--data-dir", str(tmp_path), "--keystore", str(tmp_path / "none.json")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert bad.returncode == 1
    assert "Traceback" not in bad.stderr and "does not exist" in bad.stderr
    usage = subprocess.run(
        [str(exe), "miner", "--no-such-flag"], capture_output=True, text=True, env=env, timeout=120
    )
    assert usage.returncode == 2 and "No such option" in usage.stderr


# ---- bad input: sentences, exit 1, before anything is sent ---------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_missing_keystore(tmp_path: Path, role: str) -> None:
    args = role_args(tmp_path, tmp_path / "nope.json")
    if role == "proposer":  # the proposer gossips nothing, so it has no --listen
        args = args[:4] + args[6:]
    result = invoke([role, *args])
    assert_sentence(result, 1, "does not exist", "rollproof keys new")


def test_no_keystore_configured(tmp_path: Path) -> None:
    assert_sentence(
        invoke(["miner", *role_args(tmp_path, None)]), 1, "No keystore is configured", "--keystore"
    )


def test_wrong_passphrase(tmp_path: Path, keystore: Path) -> None:
    result = invoke(["validator", *role_args(tmp_path, keystore)], env={"ROLLPROOF_PASSPHRASE": "wrong"})
    assert_sentence(result, 1, "passphrase does not open keystore")


def test_passphrase_file_missing(tmp_path: Path, keystore: Path) -> None:
    result = invoke(["miner", *role_args(tmp_path, keystore, "--passphrase-file", str(tmp_path / "pw.txt"))])
    assert_sentence(result, 1, "Passphrase file", "does not exist")


def test_unreachable_rpc(tmp_path: Path, keystore: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = invoke(
        ["miner", *role_args(tmp_path, keystore, "--rpc-url", url)], env={"ROLLPROOF_PASSPHRASE": PASSPHRASE}
    )
    assert_sentence(result, 1, f"Cannot reach the chain RPC at {url}", "--rpc-url")


def test_unknown_model(tmp_path: Path, keystore: Path) -> None:
    result = invoke(["miner", *role_args(tmp_path, keystore, "--model", "no-such-org/no-such-model")])
    assert_sentence(result, 1, "Unknown model 'no-such-org/no-such-model'", "smollm2")
    result = invoke(["miner", *role_args(tmp_path, keystore, "--model", str(tmp_path))])
    assert_sentence(result, 1, "holds no config.json")


def test_metrics_port_in_use(tmp_path: Path, keystore: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = role_args(tmp_path, keystore)
        args[args.index("--metrics-port") + 1] = str(port)
        assert_sentence(
            invoke(["miner", *args]),
            1,
            f"metrics port {port} on 127.0.0.1 is already in use",
            "--metrics-port",
        )


def test_p2p_port_in_use(tmp_path: Path, keystore: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = role_args(tmp_path, keystore)
        args[args.index("--listen") + 1] = f"/ip4/127.0.0.1/tcp/{port}"
        assert_sentence(invoke(["validator", *args]), 1, f"p2p listen port {port}", "--listen")


def test_bad_config_file_and_bad_env(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[chain]\nrpc = 'http://x:1'\n")
    assert_sentence(invoke(["miner", "--config", str(bad)]), 1, "unknown key 'rpc' in [chain]", "rpc_url")
    assert_sentence(invoke(["status"], env={"ROLLPROOF_METRICS_PORT": "lots"}), 1, "ROLLPROOF_METRICS_PORT")
    assert_sentence(invoke(["miner", "--config", str(tmp_path / "missing.toml")]), 1, "rollproof config init")


def test_bad_flag_type_is_a_usage_error() -> None:
    result = invoke(["miner", "--metrics-port", "many"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


# ---- config sub-commands ---------------------------------------------------------------------------


def test_config_init_show_check(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    result = invoke(["config", "init", str(path)])
    assert result.exit_code == 0 and path.is_file()
    assert_sentence(invoke(["config", "init", str(path)]), 1, "already exists; pass --force")
    assert invoke(["config", "init", str(path), "--force"]).exit_code == 0
    shown = invoke(
        ["config", "show", "--json", "-c", str(path), "--rpc-url", "http://flag:1"],
        env={"ROLLPROOF_MINER_STAKE": "7"},
    )
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    assert data["values"]["chain"]["rpc_url"] == "http://flag:1"
    assert data["sources"]["chain.rpc_url"] == "flag --rpc-url"
    assert (
        data["values"]["miner"]["stake"] == "7"
        and data["sources"]["miner.stake"] == "env ROLLPROOF_MINER_STAKE"
    )
    assert data["sources"]["chain.confirmations"] == "file"
    # The default file names no keystore and no deployment file: every role would stop on both.
    assert_sentence(
        invoke(["config", "check", "-c", str(path)]), 1, "No keystore is configured", "2 problem(s)"
    )
    keystore = tmp_path / "keys" / "node.json"
    from chain.keys import create_keystore

    create_keystore(keystore, PASSPHRASE, kdf="pbkdf2", iterations=2)
    deployment = _fake_deployment(tmp_path / "deployment.json")
    checked = invoke(
        ["config", "check", "-c", str(path), "--keystore", str(keystore), "--deployment", str(deployment)]
    )
    assert checked.exit_code == 0 and "is valid" in checked.output, checked.output
    path.write_text(path.read_text().replace('log_level = "info"', 'log_level = "chatty"'))
    assert_sentence(invoke(["config", "check", "-c", str(path)]), 1, "log_level", "choose one of")


def _fake_deployment(path: Path) -> Path:
    from chain.deploy import BeaconConfig, Deployment, DeployParams

    beacon = BeaconConfig("devnet", b"\x01" * 96, b"\x02" * 256, 1_700_000_000, 3)
    names = ("RollToken", "StakeManager", "DrandBeacon", "TaskBoard", "Settlement")
    addresses = {n: "0x" + f"{i + 1:02x}" * 20 for i, n in enumerate(names)}
    return Deployment(31337, addresses, 1, beacon, DeployParams(), "0x" + "aa" * 20).save(path)


def test_status_offline_reads_the_store(tmp_path: Path) -> None:
    from node.store import MinerState, Role, open_store

    data = tmp_path / "data"
    missing = invoke(["status", "--offline", "--data-dir", str(data)])
    assert missing.exit_code == 0 and "No store" in missing.output
    store = open_store(f"sqlite:///{data / 'node.db'}")
    store.upsert_task(11)
    store.track_task(11, Role.MINER)
    store.transition(11, Role.MINER, MinerState.JOINED)
    store.upsert_peer("16Uiu2HAmX", roles=["validator"])
    store.close()
    result = invoke(["status", "--offline", "--json", "--data-dir", str(data)])
    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    assert status["tasks"][0]["task_id"] == 11 and status["tasks"][0]["state"] == "JOINED"
    assert len(status["peers"]) == 1
    table = invoke(["status", "--offline", "--data-dir", str(data)])
    assert table.exit_code == 0 and "JOINED" in table.output


def test_status_with_unreachable_chain(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert_sentence(
        invoke(["status", "--rpc-url", url, "--data-dir", str(tmp_path)]), 1, "Cannot reach the chain RPC"
    )


# ---- against a real chain --------------------------------------------------------------------------


def test_chain_checks_and_status_on_anvil(tmp_path: Path, anvil, accounts, deployment, chain_for) -> None:
    from chain.keys import create_keystore

    account = accounts[3]
    ks = tmp_path / "k.json"
    create_keystore(ks, PASSPHRASE, private_key=account.key, kdf="pbkdf2", iterations=2)
    env = {"ROLLPROOF_PASSPHRASE": PASSPHRASE, "ROLLPROOF_RPC_URL": anvil.rpc_url}
    w3 = chain_for(3).w3
    nonce_before = w3.eth.get_transaction_count(account.address)

    # The RPC answers but there is no deployment file: a sentence, and nothing sent.
    result = invoke(["miner", *role_args(tmp_path, ks, "--deployment", str(tmp_path / "none.json"))], env=env)
    assert_sentence(result, 1, "deployment file", "rollproof deploy")
    # A deployment file for another chain id.
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**deployment.to_json(), "chain_id": 1}))
    result = invoke(["validator", *role_args(tmp_path, ks, "--deployment", str(other))], env=env)
    assert_sentence(result, 1, "is for chain 1", "serves chain 31337")
    assert w3.eth.get_transaction_count(account.address) == nonce_before

    # Status: the stake placed on chain shows up, with the rewards/slashes kept in the store.
    chain_for(3).stakes.stake(0, 150 * 10**18)
    dep = tmp_path / "deployment.json"
    deployment.save(dep)
    result = invoke(
        [
            "status",
            "--json",
            "--deployment",
            str(dep),
            "--keystore",
            str(ks),
            "--data-dir",
            str(tmp_path / "d"),
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    assert status["address"] == account.address
    miner_stake = next(s for s in status["stakes"] if s["role"] == "miner")
    assert miner_stake["active"] == str(150 * 10**18) and miner_stake["staked"] is True
    assert status["chain_id"] == 31337


def test_forwarded_keys_command_passes_arguments_and_errors_are_sentences(
    tmp_path: Path, keystore: Path
) -> None:
    from chain.keys import keystore_address

    shown = invoke(["keys", "show", "--keystore", str(keystore)])
    if shown.exit_code != 0 and "not available in this build" in shown.output:
        pytest.skip("chain.cli is not in this build")
    assert shown.exit_code == 0, shown.output
    assert keystore_address(keystore) in shown.output
    assert_sentence(invoke(["keys", "show", "--keystore", str(tmp_path / "nope.json")]), 1, "does not exist")
    bad_usage = invoke(["keys", "show", "--no-such-option"])
    assert bad_usage.exit_code == 2 and "Traceback" not in bad_usage.output


def test_no_stake_without_auto_stake_is_a_sentence_and_sends_nothing(
    tmp_path: Path, anvil, accounts, deployment, devnet_beacon
) -> None:
    from chain.keys import create_keystore
    from chain.tx import make_web3
    from node.devnet.beacon import BeaconServer

    account = accounts[5]
    ks = tmp_path / "k.json"
    create_keystore(ks, PASSPHRASE, private_key=account.key, kdf="pbkdf2", iterations=2)
    dep = deployment.save(tmp_path / "deployment.json")
    w3 = make_web3(anvil.rpc_url)
    nonce_before = w3.eth.get_transaction_count(account.address)
    env = {"ROLLPROOF_PASSPHRASE": PASSPHRASE, "ROLLPROOF_RPC_URL": anvil.rpc_url}
    args = role_args(tmp_path, ks, "--deployment", str(dep), "--model", "tiny", "--no-auto-stake")
    beacon = BeaconServer(devnet_beacon).start()  # a miner needs a beacon before anything else
    try:
        result = invoke(["miner", *args, "--beacon-url", beacon.url], env=env)
    finally:
        beacon.stop()
    if "not available in this build" in result.output:
        pytest.skip("node.roles.miner is not in this build")
    assert_sentence(result, 1, "stake")
    assert w3.eth.get_transaction_count(account.address) == nonce_before


def test_a_missing_module_is_reported_as_not_available() -> None:
    from node.cli import import_entry
    from node.config import UserError

    with pytest.raises(
        UserError, match=r"The wizard role is not available in this build: node\.roles\.wizard cannot"
    ):
        import_entry("node.roles.wizard", "run", "The wizard role")
    with pytest.raises(UserError, match="has no not_there"):
        import_entry("node.config", "not_there", "The thing")


def test_no_passphrase_and_no_terminal_is_a_sentence(tmp_path: Path, keystore: Path) -> None:
    result = invoke(["miner", *role_args(tmp_path, keystore)], env={"ROLLPROOF_PASSPHRASE": None})  # type: ignore[dict-item]
    assert_sentence(result, 1, "passphrase", "ROLLPROOF_PASSPHRASE")


def test_a_second_process_on_the_same_data_dir_is_refused(tmp_path: Path, keystore: Path) -> None:
    from node.cli import lock_data_dir

    data = tmp_path / "data"
    held = lock_data_dir(data)
    try:
        result = invoke(["miner", *role_args(tmp_path, keystore)])
        assert_sentence(result, 1, f"pid {os.getpid()}", "already using the data dir", "--data-dir")
    finally:
        held.close()
    # Released: the next run gets past the lock (and stops at the next check, the passphrase).
    result = invoke(["miner", *role_args(tmp_path, keystore)], env={"ROLLPROOF_PASSPHRASE": "wrong"})
    assert_sentence(result, 1, "passphrase does not open keystore")
