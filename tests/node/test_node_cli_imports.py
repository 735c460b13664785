"""`rollproof --help`, a group's `--help` and the light commands import only what they need
(issue 15): torch and transformers cost seconds of CPU per call, web3 and eth-account ~2 s more.
Each case runs in a fresh interpreter and reads its sys.modules afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, sys
from node.cli import app
try:
    app(sys.argv[1:], prog_name="rollproof")
except SystemExit:
    pass
heavy = ("torch", "transformers", "web3", "eth_account", "libp2p", "sqlalchemy")
print(json.dumps(sorted(m for m in heavy if m in sys.modules)), file=sys.stderr)
"""


def imported_by(args: list[str], tmp_path: Path) -> set[str]:
    env = {
        **os.environ,
        "ROLLPROOF_CONFIG": "",
        "ROLLPROOF_DATA_DIR": str(tmp_path / "data"),
        "ROLLPROOF_RPC_URL": "http://127.0.0.1:9",
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
    )
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def test_rollproof_help_does_not_import_torch(tmp_path: Path) -> None:
    assert not imported_by(["--help"], tmp_path) & {"torch", "transformers", "web3", "libp2p"}


@pytest.mark.parametrize(
    "args",
    [
        ["beacon", "--help"],
        ["beacon", "info"],
        ["keys", "--help"],
        ["deploy", "--help"],
        ["config", "--help"],
        ["config", "check"],
        ["stake", "--help"],
        ["miner", "--help"],
        ["devnet", "--help"],
    ],
    ids=" ".join,
)
def test_group_help_and_light_commands_import_no_model_and_no_web3(args: list[str], tmp_path: Path) -> None:
    assert not imported_by(args, tmp_path) & {"torch", "transformers", "web3", "eth_account"}
