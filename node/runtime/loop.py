"""The run loop of a role process: step every active task, confirm transactions, sleep, repeat.

A role process is one loop: `sync_tasks` reads new chain events into the store, then the role's
`step` advances every active task by at most one state of its state machine (node/store/states.py);
every action first reads the chain (`chain.clients` returns None for an action already done)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from node.runtime.context import NodeContext, confirm_transactions
from node.runtime.errors import RoleError
from node.runtime.stop import crash_point
from node.store import Role

log = logging.getLogger("rollproof.roles")


def step_tasks(ctx: NodeContext, task_ids: list[int], advance: Callable[[int], bool]) -> bool:
    """Advance each task one step; a failure in one task is logged and retried next loop, the others go on."""
    from chain.errors import ChainRevert

    busy = False
    for task_id in task_ids:
        if ctx.stop:
            break
        try:
            busy |= advance(task_id)
        except ChainRevert as exc:
            log.warning("task %d: %s", task_id, exc)
        except RoleError:
            raise
        except Exception:  # noqa: BLE001 - keep serving the other tasks; the traceback is logged
            log.exception("task %d: step failed; retrying on the next loop", task_id)
    return busy


def advance_with_crash_point(
    ctx: NodeContext, role: Role, task_id: int, advance: Callable[[int], bool]
) -> bool:
    """Advance one task one step and, when its state changed, pass the crash point of the state it
    entered (the crash tests SIGKILL the process there: RoleKnobs.crash_after)."""
    before = ctx.store.task_state(task_id, role)
    busy = advance(task_id)
    after = ctx.store.task_state(task_id, role)
    if after != before:
        crash_point(ctx, after)
    return busy


def max_tasks_done(ctx: NodeContext, role: Role, ended: Iterable[Any], active: Iterable[Any]) -> bool:
    """With max_tasks: `max_tasks` of this role's tasks have ended and none is still active."""
    limit = ctx.settings.max_tasks
    if not limit:
        return False
    finished = ctx.store.tasks_in_state(role, ended)
    return len(finished) >= limit and not ctx.store.tasks_in_state(role, active)


def run_loop(ctx: NodeContext, step: Callable[[], bool], done: Callable[[], bool] | None = None) -> int:
    """Call `step` every poll interval until stopped; `step` returns True when it did something."""
    idle_since = time.monotonic()
    while not ctx.stop:
        busy = step()
        confirm_transactions(ctx)
        if busy:
            idle_since = time.monotonic()
        if done is not None and done():
            return 0
        if ctx.settings.exit_when_idle and time.monotonic() - idle_since > ctx.settings.exit_when_idle:
            log.info("idle for %.0f s; exiting", ctx.settings.exit_when_idle)
            return 0
        if not busy:
            ctx.stop.sleep(ctx.settings.poll_interval)
    log.info("stop requested (SIGTERM/SIGINT); shutting down")
    return 0
