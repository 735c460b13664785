"""The run loop of a role process and the start-up shared by the staked roles.

A role process is one loop: `sync_tasks` reads new chain events into the store, then the role's
`step` advances every active task by at most one state of its state machine (node/store/states.py);
every action first reads the chain (`chain.clients` returns None for an action already done)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from node.model import set_threads
from node.runtime.context import NodeContext, confirm_transactions, open_context
from node.runtime.errors import RoleError
from node.runtime.network import check_listen_port, start_p2p
from node.runtime.observe import event, setup_role_logging, start_metrics
from node.runtime.settings import RoleSettings, settings_from
from node.staking import check_stake, ensure_peer_registered, ensure_staked
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


def run_staked_role(
    config: Any,
    name: str,
    role: Role,
    chain_role: int,
    make_node: Callable[[NodeContext], Any],
    start_network: Callable[[Any], Any] | None = None,
    ready_fields: Callable[[RoleSettings], dict[str, Any]] = lambda settings: {},
) -> int:
    """Start-up shared by the staked roles (miner, validator, evaluator), then their loop.

    Every check that can fail (port, stake, model) runs before the first transaction, so a bad
    start leaves nothing half-done on chain. `make_node(ctx)` builds the role object (`step`,
    optionally `done`); `start_network(node)` defaults to a plain `start_p2p(ctx)`.
    """
    settings = settings_from(config, name)
    setup_role_logging(config, settings)
    set_threads(settings.threads)
    check_listen_port(settings.listen)
    ctx = open_context(settings, role, account=getattr(config, "account", None))
    try:
        ctx.stop.install()
        check_stake(ctx, chain_role)
        node = make_node(ctx)
        start_metrics(ctx)
        if start_network is None:
            start_p2p(ctx)
        else:
            start_network(node)
        ensure_staked(ctx, chain_role)
        ensure_peer_registered(ctx)
        event(
            logging.getLogger(f"rollproof.{name}"),
            f"{name} ready",
            address=ctx.address,
            **ready_fields(settings),
        )
        return run_loop(ctx, node.step, getattr(node, "done", None))
    finally:
        ctx.close()


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
