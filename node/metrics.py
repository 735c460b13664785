"""Prometheus metrics of a node, served at http://<metrics_host>:<metrics_port>/metrics.

Each node process owns one `NodeMetrics` with its own registry (so several nodes or tests in one
process never clash). Metric names are prefixed `rollproof_`; the roles update them.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, start_http_server

from node.config import UserError


@dataclass
class NodeMetrics:
    """The metrics every role may update. Labels are kept low-cardinality (role, state, outcome)."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.info = Gauge(
            "rollproof_node_info",
            "Constant 1, labelled with the node's identity.",
            ["address", "roles"],
            registry=r,
        )
        self.tasks = Gauge(
            "rollproof_tasks", "Tasks tracked by this node, by role and state.", ["role", "state"], registry=r
        )
        self.transitions = Counter(
            "rollproof_task_transitions_total", "Task state transitions.", ["role", "state"], registry=r
        )
        self.rollouts_generated = Counter(
            "rollproof_rollouts_generated_total", "Rollouts this miner generated.", registry=r
        )
        self.tokens_generated = Counter(
            "rollproof_tokens_generated_total", "Tokens this miner generated.", registry=r
        )
        self.rollouts_received = Counter(
            "rollproof_rollouts_received_total", "Rollouts received over gossip.", ["result"], registry=r
        )
        self.audits = Counter(
            "rollproof_audits_total", "Rollouts audited by this validator.", ["result"], registry=r
        )
        self.verdicts = Counter(
            "rollproof_verdicts_total", "Verdicts submitted, by pass/fail.", ["result"], registry=r
        )
        self.transactions = Counter(
            "rollproof_transactions_total",
            "Transactions sent, by action and result.",
            ["action", "result"],
            registry=r,
        )
        self.peers = Gauge("rollproof_peers", "Connected libp2p peers.", registry=r)
        self.stake = Gauge("rollproof_stake_rpt", "Active stake in RPT, by role.", ["role"], registry=r)
        self.rewards = Counter(
            "rollproof_rewards_rpt_total", "RPT credited to this node by settlement.", registry=r
        )
        self.slashed = Counter("rollproof_slashed_rpt_total", "RPT slashed from this node.", registry=r)
        self.reward_mean = Gauge(
            "rollproof_train_reward_mean", "Mean reward of the last training batch.", registry=r
        )
        self.train_loss = Gauge("rollproof_train_loss", "Loss of the last training step.", registry=r)
        self.chain_block = Gauge(
            "rollproof_chain_block", "Last chain block processed by the event follower.", registry=r
        )
        self.step_seconds = Histogram(
            "rollproof_step_seconds",
            "Duration of role steps (generate, prove, verify, train).",
            ["step"],
            registry=r,
            buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600),
        )

    def render(self) -> bytes:
        """The exposition text (what /metrics serves)."""
        return generate_latest(self.registry)


def start_metrics_server(metrics: NodeMetrics, port: int, host: str = "127.0.0.1") -> Any | None:
    """Serve /metrics on host:port in a daemon thread; None when port is 0 (off).

    Returns the server (call `.shutdown()` to stop). A port in use is a UserError that says how to
    pick another.
    """
    if port == 0:
        return None
    try:
        server, _thread = start_http_server(port, addr=host, registry=metrics.registry)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UserError(
                f"The metrics port {port} on {host} is already in use; pick another with --metrics-port "
                "or ROLLPROOF_METRICS_PORT, or set it to 0 to turn metrics off."
            ) from None
        raise UserError(f"Cannot serve metrics on {host}:{port}: {exc.strerror}.") from None
    return server
