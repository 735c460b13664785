"""What a role process tells its operator: log lines with structured fields and /metrics."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from node.runtime.errors import RoleError

if TYPE_CHECKING:
    from node.runtime.context import NodeContext
    from node.runtime.settings import RoleSettings

log = logging.getLogger("rollproof.roles")


def setup_role_logging(config: Any, settings: RoleSettings) -> None:
    """Logs of `python -m node.roles` / devnet nodes; the CLI set logging up already (same function,
    `node.logging.setup_logging`, from the same options)."""
    if settings.standalone:
        from node.logging import setup_logging

        setup_logging(
            settings.log_level,
            json_lines=settings.log_json,
            log_file=settings.log_file or settings.data_dir / "node.log",
            node=settings.role,
        )


def event(logger: logging.Logger, msg: str, **fields_: Any) -> None:
    """An INFO log line with structured fields (they land in the JSON log)."""
    logger.info(msg, extra={"fields": fields_})


def start_metrics(ctx: NodeContext) -> None:
    """Prometheus /metrics on <metrics_host>:<metrics_port> (0: off) of a role process started from a
    settings file (the CLI serves /metrics itself: `node.cli.start_observability`): the store's task
    states, audits and payouts (node.metrics.StoreCollector) and the p2p counters."""
    port = ctx.settings.metrics_port
    if not port or not ctx.settings.standalone:
        return
    from prometheus_client import REGISTRY

    from node.metrics import NodeMetrics, start_metrics_server

    try:
        metrics = NodeMetrics(registry=REGISTRY, store=ctx.store)
    except ValueError:  # already registered in this process
        return
    from node.config import UserError

    try:
        start_metrics_server(metrics, port, ctx.settings.metrics_host)
    except UserError as exc:
        raise RoleError(str(exc)) from None
