"""What the role loop shares between roles (node/runtime/loop.py), on a real store."""

from __future__ import annotations

import signal
import subprocess
import sys
from types import SimpleNamespace

from node.roles.miner import ACTIVE
from node.runtime.loop import max_tasks_done
from node.store import MinerState, Role, open_store

ENDED = (MinerState.CLAIMED, MinerState.FAILED, MinerState.SKIPPED)


def _store(tmp_path, task_ids):
    store = open_store(f"sqlite:///{tmp_path / 'node.db'}")
    for task_id in task_ids:
        store.upsert_task(task_id, proposer="0x" + "aa" * 20, params={}, seed_round=1, challenge_round=2)
        store.track_task(task_id, Role.MINER)
    return store


def test_max_tasks_is_done_once_that_many_tasks_ended_and_none_is_active(tmp_path):
    store = _store(tmp_path, (1, 2, 3))
    ctx = SimpleNamespace(store=store, settings=SimpleNamespace(max_tasks=0))
    assert not max_tasks_done(ctx, Role.MINER, ENDED, ACTIVE)  # 0: no limit, the role never stops
    ctx.settings.max_tasks = 2
    store.transition(1, Role.MINER, MinerState.SKIPPED)
    store.transition(2, Role.MINER, MinerState.JOINED)
    assert not max_tasks_done(ctx, Role.MINER, ENDED, ACTIVE)  # one ended
    store.transition(2, Role.MINER, MinerState.FAILED)
    store.transition(3, Role.MINER, MinerState.JOINED)
    assert not max_tasks_done(ctx, Role.MINER, ENDED, ACTIVE)  # two ended, but task 3 is still active
    store.transition(3, Role.MINER, MinerState.FAILED)
    assert max_tasks_done(ctx, Role.MINER, ENDED, ACTIVE)


STEP = """
import sys
from types import SimpleNamespace
from node.runtime.loop import advance_with_crash_point
from node.store import MinerState, Role, open_store

store = open_store(sys.argv[1])
ctx = SimpleNamespace(store=store, settings=SimpleNamespace(crash_after=sys.argv[2]))
def join(task_id):
    store.transition(task_id, Role.MINER, MinerState.JOINED)
    return True
advance_with_crash_point(ctx, Role.MINER, 1, lambda task_id: False)  # no state change: no crash point
advance_with_crash_point(ctx, Role.MINER, 1, join)
print("survived")
"""


def test_a_step_that_changes_the_state_passes_its_crash_point(tmp_path):
    """The crash tests' hook: a step that enters `crash_after`'s state is SIGKILLed right after it
    persisted the state; one that enters another state goes on."""
    url = f"sqlite:///{tmp_path / 'node.db'}"
    _store(tmp_path, (1,))
    other = subprocess.run(
        [sys.executable, "-c", STEP, url, str(MinerState.COMMITTED)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert other.returncode == 0 and "survived" in other.stdout, other.stderr
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    store = _store(fresh, (1,))
    killed = subprocess.run(
        [sys.executable, "-c", STEP, f"sqlite:///{fresh / 'node.db'}", str(MinerState.JOINED)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL and "survived" not in killed.stdout
    assert store.task_state(1, Role.MINER) == MinerState.JOINED  # persisted before the kill
