"""The start-up shared by the staked roles (miner, validator, evaluator): settings, logging, torch
threads, the context, the stake, the network, the peer registration, then the role's loop."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from node.model import set_threads
from node.runtime.context import NodeContext, open_context
from node.runtime.loop import run_loop
from node.runtime.network import check_listen_port, start_p2p
from node.runtime.observe import event, setup_role_logging, start_metrics
from node.runtime.settings import RoleSettings, settings_from
from node.staking import check_stake, ensure_peer_registered, ensure_staked
from node.store import Role


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
