"""Bad configuration at start: unreachable RPC, no stake, wrong passphrase, unknown model, port in use.

Each case starts a real miner process (`python -m node.roles miner`, what the devnet runs) against a
real deployment. Each must exit with code 2 and one sentence on stderr (no traceback), and leave
nothing half-done on chain: the account sent no transaction at all (nonce 0, nothing staked, no
peer id bound).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from e2e_helpers import lone_miner_options

from node.devnet import REPO_ROOT, Devnet, free_port


def start_miner(settings: dict, path: Path) -> subprocess.Popen[str]:
    path.write_text(json.dumps(settings))
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONPATH=str(REPO_ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "node.roles", "miner", "--config", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=str(REPO_ROOT),
        env=env,
    )


def test_bad_configuration_exits_with_a_sentence_and_sends_nothing(tmp_path):
    options = lone_miner_options(tmp_path / "net")
    with Devnet(options) as net, socket.socket() as busy:
        net.start()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        busy_port = busy.getsockname()[1]
        miner = net.nodes["miner1"]
        base = json.loads(miner.config_path.read_text())
        wrong = tmp_path / "wrong-passphrase"
        wrong.write_text("not the passphrase\n")
        cases = {
            "unreachable RPC": ({"rpc_url": f"http://127.0.0.1:{free_port()}"}, "unreachable"),
            "no stake": ({"stake": 0}, "has no miner stake"),
            "wrong passphrase": ({"passphrase_file": str(wrong)}, "passphrase does not open"),
            "unknown model": ({"model": str(tmp_path / "no-such-model")}, "Cannot load the model"),
            "port in use": ({"listen": f"/ip4/127.0.0.1/tcp/{busy_port}"}, "port in use"),
        }
        procs = {
            name: start_miner({**base, **change}, tmp_path / f"{i}.json")
            for i, (name, (change, _)) in enumerate(cases.items())
        }
        try:
            results = {name: proc.communicate(timeout=240) for name, proc in procs.items()}
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        assert net.chain is not None
        for name, (_, expected) in cases.items():
            _, stderr = results[name]
            assert procs[name].returncode == 2, (name, stderr[-2000:])
            assert expected in stderr, (name, stderr[-2000:])
            assert "Traceback" not in stderr, (name, stderr[-2000:])
        w3 = net.chain.w3
        assert w3.eth.get_transaction_count(miner.address) == 0
        assert net.chain.stakes.active_stake(miner.address, 0) == 0
        assert net.chain.stakes.peer_id_of(miner.address) == b""
