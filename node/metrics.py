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


class StoreCollector:
    """Metrics read from the node store at scrape time, so every role is observable without
    instrumenting it: tasks by role and state, rollouts, audits, transactions, payouts, peers and
    the event followers' blocks. Register with `registry.register(StoreCollector(store))`.
    """

    def __init__(self, store: Any) -> None:
        self.store = store

    def collect(self) -> Any:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
        from sqlalchemy import func, select

        from node.store.models import (
            Audit,
            EventCursor,
            Outcome,
            OwnRollout,
            Peer,
            ReceivedRollout,
            SentTransaction,
            TaskStateRow,
        )

        try:
            with self.store.transaction() as s:
                tasks = GaugeMetricFamily(
                    "rollproof_store_tasks", "Tasks in the store by role and state.", labels=["role", "state"]
                )
                for role, state, n in s.execute(
                    select(TaskStateRow.role, TaskStateRow.state, func.count()).group_by(
                        TaskStateRow.role, TaskStateRow.state
                    )
                ):
                    tasks.add_metric([role, state], n)
                yield tasks
                yield CounterMetricFamily(
                    "rollproof_store_own_rollouts",
                    "Rollouts this node generated.",
                    value=s.scalar(select(func.count()).select_from(OwnRollout)) or 0,
                )
                yield CounterMetricFamily(
                    "rollproof_store_received_rollouts",
                    "Rollouts received over gossip.",
                    value=s.scalar(select(func.count()).select_from(ReceivedRollout)) or 0,
                )
                audits = CounterMetricFamily(
                    "rollproof_store_audits", "Audited rollouts by result.", labels=["result"]
                )
                for passed, n in s.execute(select(Audit.passed, func.count()).group_by(Audit.passed)):
                    audits.add_metric(["pass" if passed else "fail"], n)
                yield audits
                txs = GaugeMetricFamily(
                    "rollproof_store_transactions", "Transactions by status.", labels=["status"]
                )
                for status, n in s.execute(
                    select(SentTransaction.status, func.count()).group_by(SentTransaction.status)
                ):
                    txs.add_metric([status], n)
                yield txs
                paid = slashed = 0
                for o in s.scalars(select(Outcome)):
                    paid += o.paid
                    slashed += o.slashed
                yield CounterMetricFamily(
                    "rollproof_store_paid_rpt",
                    "RPT paid by settlement (recorded outcomes).",
                    value=paid / 1e18,
                )
                yield CounterMetricFamily(
                    "rollproof_store_slashed_rpt", "RPT slashed (recorded outcomes).", value=slashed / 1e18
                )
                yield GaugeMetricFamily(
                    "rollproof_store_peers",
                    "Known, unbanned peers.",
                    value=s.scalar(select(func.count()).select_from(Peer).where(Peer.banned.is_(False))) or 0,
                )
                cursors = GaugeMetricFamily(
                    "rollproof_store_event_block", "Last processed block per follower.", labels=["name"]
                )
                for c in s.scalars(select(EventCursor)):
                    cursors.add_metric([c.name], c.block)
                yield cursors
        except Exception:  # a scrape must never take the node down; the gap in the series shows it
            return
