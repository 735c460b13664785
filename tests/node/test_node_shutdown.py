"""SIGTERM and Ctrl-C end a role process promptly and cleanly (issue 15): the loop stops, the store
and p2p host close, and the process exits with 0 without waiting for Python's teardown of torch
(which took 4-12 s). A real validator process of a tiny devnet (Anvil, beacon, model, libp2p).

Never a wall-time assertion: the bound is the devnet's own SIGKILL fallback (`NodeProc.stop`), and
a process that needed it would show -9, not 0."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from node.devnet import Devnet, DevnetOptions

pytestmark = pytest.mark.timeout(600)


def wait_ready(node, what: str, times: int) -> None:
    """Until `what` was logged `times` times (the log is appended to across restarts)."""
    deadline = time.monotonic() + 300
    while node.log_path.read_text(errors="replace").count(what) < times:
        assert node.running, node.log_tail()
        assert time.monotonic() < deadline, f"{what!r} never logged:\n{node.log_tail()}"
        time.sleep(0.5)


def test_sigterm_and_ctrl_c_end_a_role_process_with_exit_code_0(tmp_path: Path) -> None:
    options = DevnetOptions.tiny(
        out_dir=tmp_path / "net", honest_miners=1, cheaters=0, validators=1, evaluators=0, tasks=1
    )
    with Devnet(options) as net:
        net.start()
        node = net.nodes["validator1"]
        for times, sig in enumerate((signal.SIGTERM, signal.SIGINT), start=1):
            net.start_nodes(["validator1"])
            wait_ready(node, "validator ready", times)
            if sig == signal.SIGTERM:
                node.stop(timeout=60)  # SIGTERM, then SIGKILL only if still alive after 60 s
            else:
                os.killpg(node.proc.pid, signal.SIGINT)  # Ctrl-C in the node's terminal
                node.proc.wait(timeout=60)
            assert node.returncode == 0, node.log_tail()
            assert "shutting down" in node.log_tail(5), node.log_tail()
