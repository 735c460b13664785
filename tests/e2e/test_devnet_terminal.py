"""`rollproof devnet` in a real terminal (a pseudo-terminal, 120 x 40): each start-up step is on
screen as it happens, before the live view opens, and Ctrl-C ends the run with a sentence, exit
code 130 and no process left behind.

Before, the screen stayed blank for the first 60 s of a run while Anvil, the deployment and seven
node processes started (issue 15). "As it happens" is checked without any clock: the read that
first shows "starting Anvil" must not yet hold "contracts deployed" (the deployment takes seconds
after Anvil is up), so the lines were not buffered until the end of the start-up."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(300)
ROLLPROOF = Path(sys.executable).with_name("rollproof")
STEPS = (
    "starting Anvil",
    "Anvil is up",
    "deploying the contracts",
    "contracts deployed",
    "started the proposer",
    "started miner1 (miner)",
)


def _processes_mentioning(text: str) -> list[int]:
    """Pids whose command line contains `text` (the run's own out dir: its Anvil, beacon and nodes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found


def test_devnet_shows_each_start_up_step_in_a_terminal_and_ctrl_c_ends_it_cleanly(tmp_path):
    out_dir = tmp_path / "devnet-in-a-terminal"
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = dict(os.environ, TERM="xterm-256color", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.pop("COLUMNS", None)
    proc = subprocess.Popen(
        [str(ROLLPROOF), "devnet", "--model", "tiny", "--tasks", "1", "--out-dir", str(out_dir)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    screen = ""
    reads: list[str] = []  # the whole output as of each read, to see what had been printed when

    def read_until(predicate, timeout: float) -> bool:
        nonlocal screen
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(screen):
                return True
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                if proc.poll() is not None:
                    return predicate(screen)
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the terminal closed: the process ended
                return predicate(screen)
            screen += chunk.decode(errors="replace")
            reads.append(screen)
        return predicate(screen)

    try:
        assert read_until(lambda s: STEPS[-1] in s, 240), (
            f"start-up steps missing; screen so far:\n{screen[-3000:]}"
        )
        missing = [step for step in STEPS if step not in screen]
        assert not missing, f"{missing} not on screen:\n{screen[-3000:]!r}"
        positions = [screen.index(step) for step in STEPS]
        assert positions == sorted(positions), (
            f"steps out of order: {dict(zip(STEPS, positions, strict=True))}"
        )
        first = next(r for r in reads if "starting Anvil" in r)
        assert "contracts deployed" not in first, "the start-up lines were buffered, not shown as they happen"

        # Ctrl-C in a terminal signals the whole foreground process group.
        os.killpg(proc.pid, signal.SIGINT)
        read_until(lambda s: proc.poll() is not None, 90)
        code = proc.wait(timeout=30)
        read_until(lambda s: False, 1)  # whatever was printed last
        assert code == 130, f"exit code {code}; screen:\n{screen[-3000:]}"
        assert "Interrupted" in screen
        assert "Traceback" not in screen and "Internal error" not in screen, screen[-3000:]
        leftover = []
        for _ in range(50):  # the children stop within a few seconds of the parent
            leftover = _processes_mentioning(str(out_dir))
            if not leftover:
                break
            time.sleep(0.2)
        assert not leftover, f"processes of the run still alive after Ctrl-C: {leftover}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for pid in _processes_mentioning(str(out_dir)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        os.close(master)
