"""SIGKILL a writer process at arbitrary points; the store must reopen consistent and resume.

Consistent means: SQLite integrity holds; every state the writer reported as committed survived;
a task at GENERATED or later has all its rollouts, one before has none; each intent (a transaction
the node would send) is recorded exactly once, with distinct nonces, across every restart.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from node.store import MinerState, Role, open_store

WRITER = Path(__file__).with_name("node_crash_writer.py")
TASKS = 6
ROLLOUTS = 24
ORDER = [MinerState.SEEN, MinerState.JOINED, MinerState.SEEDED, MinerState.GENERATED, MinerState.COMMITTED]


def start_writer(url: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, str(WRITER), url, str(TASKS), str(ROLLOUTS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def run_and_kill(url: str, lines_before_kill: int, rng: random.Random) -> dict[int, MinerState]:
    """Start the writer, let it report `lines_before_kill` steps, SIGKILL it; return what it reported."""
    proc = start_writer(url)
    reported: dict[int, MinerState] = {}
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "open"
        for _ in range(lines_before_kill):
            line = proc.stdout.readline().strip()
            if not line or line == "done":
                break
            task, state = line.split()
            reported[int(task)] = MinerState(state)
        # Kill at a random moment inside the next step (often in the middle of a transaction).
        time.sleep(rng.uniform(0, 0.03))
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
        proc.stdout.close()
        assert proc.stderr is not None
        proc.stderr.close()
    assert proc.returncode in (-signal.SIGKILL, 0)
    return reported


def check_consistent(url: str, reported: dict[int, MinerState]) -> None:
    store = open_store(url)
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        for task_id, at_least in reported.items():
            state = store.task_state(task_id, Role.MINER)
            assert state is not None and ORDER.index(state) >= ORDER.index(at_least), (
                task_id,
                state,
                at_least,
            )
        intents = store.transactions(limit=10**6)
        assert len({t.intent for t in intents}) == len(intents)
        assert len({t.nonce for t in intents}) == len(intents), "a nonce was used twice"
        for task_id in range(1, TASKS + 1):
            state = store.task_state(task_id, Role.MINER)
            if state is None:
                continue
            n = store.count_own_rollouts(task_id)
            generated = ORDER.index(state) >= ORDER.index(MinerState.GENERATED)
            assert n == (ROLLOUTS if generated else 0), (task_id, state, n)
            joined = ORDER.index(state) >= ORDER.index(MinerState.JOINED)
            assert (store.tx_by_intent(f"join:{task_id}") is not None) == joined
            committed = state == MinerState.COMMITTED
            assert (store.tx_by_intent(f"commit:{task_id}") is not None) == committed
            history = store.task_history(task_id, Role.MINER)
            assert history[-1].to_state == state.value
            assert [t.to_state for t in history] == [s.value for s in ORDER[: ORDER.index(state) + 1]]
    finally:
        store.close()


def test_sigkill_mid_stream_reopens_consistent_and_resumes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'node.db'}"
    rng = random.Random(7)
    reported_all: dict[int, MinerState] = {}
    kills = 0
    for lines in (3, 5, 4, 7, 2):
        reported = run_and_kill(url, lines, rng)
        kills += 1
        for task, state in reported.items():
            if task not in reported_all or ORDER.index(state) > ORDER.index(reported_all[task]):
                reported_all[task] = state
        check_consistent(url, reported_all)
    # Finally let it run to the end: every task committed, each intent sent once.
    proc = start_writer(url)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert out.strip().endswith("done")
    check_consistent(url, reported_all)
    store = open_store(url)
    try:
        assert store.tasks_in_state(Role.MINER, [MinerState.COMMITTED]) == list(range(1, TASKS + 1))
        assert len(store.transactions(limit=10**6)) == 2 * TASKS
    finally:
        store.close()
    assert kills == 5
