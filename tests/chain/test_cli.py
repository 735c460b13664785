"""`rollproof keys` and `rollproof deploy` as a user runs them (real processes, real Anvil)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from chain.clients import Chain
from chain.deploy import Deployment
from chain.keys import create_keystore

ROLLPROOF = Path(sys.executable).parent / "rollproof"
pytestmark = pytest.mark.skipif(
    not ROLLPROOF.exists() and not shutil.which("rollproof"), reason="no rollproof CLI"
)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROLLPROOF), *args], capture_output=True, text=True, timeout=300)


def test_deploy_with_a_keystore_then_connect(anvil, accounts, tmp_path):
    keystore = tmp_path / "deployer.json"
    create_keystore(keystore, "s3cret", private_key=accounts[5].key, kdf="pbkdf2", iterations=2)
    (tmp_path / "pass").write_text("s3cret\n")
    (tmp_path / "wrong").write_text("nope\n")
    out = tmp_path / "deployment.json"

    bad = run(
        "deploy",
        "--rpc-url",
        anvil.rpc_url,
        "--keystore",
        str(keystore),
        "--passphrase-file",
        str(tmp_path / "wrong"),
        "--out",
        str(out),
    )
    assert bad.returncode != 0 and "passphrase does not open keystore" in bad.stderr
    assert "Traceback" not in bad.stderr + bad.stdout and not out.exists()

    good = run(
        "deploy",
        "--rpc-url",
        anvil.rpc_url,
        "--keystore",
        str(keystore),
        "--passphrase-file",
        str(tmp_path / "pass"),
        "--out",
        str(out),
        "--fund",
        accounts[6].address,
        "--fund-amount",
        "250",
        "--cooldown",
        "3600",
        "--max-task-duration",
        "1800",
    )
    assert good.returncode == 0, good.stderr
    assert "s3cret" not in good.stdout + good.stderr
    deployment = Deployment.load(out)
    assert deployment.deployer == accounts[5].address and deployment.params.cooldown == 3600
    chain = Chain.connect(anvil.rpc_url, out)
    assert chain.token.balance_of(accounts[6].address) == 250 * 10**18
    assert chain.beacon.period() == deployment.beacon.period == 3
    assert chain.beacon.genesis() == deployment.beacon.genesis

    again = run("deploy", "--rpc-url", anvil.rpc_url, "--anvil-account", "0", "--out", str(out))
    assert again.returncode != 0 and "already exists; pass --force" in again.stderr


def test_keys_show_unknown_path_is_a_sentence(tmp_path):
    result = run("keys", "show", "--keystore", str(tmp_path / "missing.json"))
    assert result.returncode != 0
    assert "does not exist; create one with `rollproof keys new`" in result.stderr
    assert "Traceback" not in result.stderr
