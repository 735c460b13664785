"""Prometheus metrics of a node, served at http://<metrics_host>:<metrics_port>/metrics.

Every series is read at scrape time from where the fact is recorded, so none can stay at 0 while
the event happens: the node store (every role writes its rollouts, audits, verdicts, transactions,
task states, outcomes and event cursors there before acting on them) and the live p2p host
(connected peers and its gossip counters). A role makes its host visible with `watch_p2p(node)`.

Names are prefixed `rollproof_`; counters are monotonic because the store never deletes rows.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from node.config import UserError

RPT = 10**18


class LiveSources:
    """Live objects of this process the collectors read at scrape time (set by the role)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.p2p: Any = None  # node.p2p.P2PNode

    def set_p2p(self, node: Any) -> None:
        with self.lock:
            self.p2p = node


LIVE = LiveSources()


def watch_p2p(node: Any) -> None:
    """Export `node`'s connected peers and gossip counters from this process's metrics."""
    LIVE.set_p2p(node)


@dataclass
class NodeMetrics:
    """The metrics of one node: a registry holding the store and p2p collectors.

    `store` is an open node store (node.store.Store); without one only the p2p series exist.
    Each NodeMetrics has its own registry unless one is given (e.g. prometheus_client.REGISTRY).
    """

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    store: Any = None
    live: LiveSources = field(default_factory=lambda: LIVE)

    def __post_init__(self) -> None:
        if self.store is not None:
            self.registry.register(StoreCollector(self.store))
        self.registry.register(P2PCollector(self.live))

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


class P2PCollector:
    """rollproof_peers (connected now) and the host's own rollproof_p2p_* series."""

    def __init__(self, live: LiveSources) -> None:
        self.live = live

    def collect(self) -> Iterator[Any]:
        node = self.live.p2p
        connected = 0
        if node is not None:
            try:
                connected = len(node.connected_peers())
            except Exception:  # noqa: BLE001 - a stopping host has no peers
                connected = 0
        yield GaugeMetricFamily("rollproof_peers", "Connected libp2p peers.", value=connected)
        registry = getattr(getattr(node, "metrics", None), "registry", None)
        if registry is not None:
            yield from registry.collect()


class StoreCollector:
    """Metrics read from the node store at scrape time: tasks by role and state, transitions,
    rollouts generated (and their tokens), received, audited, verdicts, transactions, payouts,
    known peers and the last block the event followers processed.

    Register with `registry.register(StoreCollector(store))`.
    """

    def __init__(self, store: Any) -> None:
        self.store = store

    def collect(self) -> Iterator[Any]:
        try:
            families = self._families()
        except Exception:  # noqa: BLE001 - a scrape must never take the node down; the gap shows it
            return
        yield from families

    def _families(self) -> list[Any]:
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
            TaskTransition,
            VerdictRow,
        )

        out: list[Any] = []
        with self.store.transaction() as s:
            tasks = GaugeMetricFamily(
                "rollproof_tasks", "Tasks tracked by this node, by role and state.", labels=["role", "state"]
            )
            for role, state, n in s.execute(
                select(TaskStateRow.role, TaskStateRow.state, func.count()).group_by(
                    TaskStateRow.role, TaskStateRow.state
                )
            ):
                tasks.add_metric([role, state], n)
            out.append(tasks)
            transitions = CounterMetricFamily(
                "rollproof_task_transitions", "Task state transitions.", labels=["role", "state"]
            )
            for role, state, n in s.execute(
                select(TaskTransition.role, TaskTransition.to_state, func.count()).group_by(
                    TaskTransition.role, TaskTransition.to_state
                )
            ):
                transitions.add_metric([role, state], n)
            out.append(transitions)
            generated = s.scalar(select(func.count()).select_from(OwnRollout)) or 0
            out.append(
                CounterMetricFamily(
                    "rollproof_rollouts_generated", "Rollouts this miner generated.", value=generated
                )
            )
            tokens = sum(len(t or ()) for t in s.scalars(select(OwnRollout.tokens)))
            out.append(
                CounterMetricFamily(
                    "rollproof_tokens_generated", "Completion tokens this miner generated.", value=tokens
                )
            )
            out.append(
                CounterMetricFamily(
                    "rollproof_rollouts_received",
                    "Rollouts received over gossip and stored.",
                    value=s.scalar(select(func.count()).select_from(ReceivedRollout)) or 0,
                )
            )
            audits = CounterMetricFamily(
                "rollproof_audits", "Rollouts audited by this validator, by result.", labels=["result"]
            )
            for passed, n in s.execute(select(Audit.passed, func.count()).group_by(Audit.passed)):
                audits.add_metric(["pass" if passed else "fail"], n)
            out.append(audits)
            out.append(
                CounterMetricFamily(
                    "rollproof_verdicts",
                    "Verdict sets this validator committed (one per task).",
                    value=s.scalar(select(func.count()).select_from(VerdictRow)) or 0,
                )
            )
            txs = GaugeMetricFamily(
                "rollproof_transactions", "Transactions this node sent, by status.", labels=["status"]
            )
            for status, n in s.execute(
                select(SentTransaction.status, func.count()).group_by(SentTransaction.status)
            ):
                txs.add_metric([status], n)
            out.append(txs)
            paid = slashed = 0
            for o in s.scalars(select(Outcome)):
                paid += o.paid
                slashed += o.slashed
            out.append(
                CounterMetricFamily(
                    "rollproof_rewards_rpt",
                    "RPT credited by settlement (recorded outcomes).",
                    value=paid / RPT,
                )
            )
            out.append(
                CounterMetricFamily(
                    "rollproof_slashed_rpt", "RPT slashed (recorded outcomes).", value=slashed / RPT
                )
            )
            out.append(
                GaugeMetricFamily(
                    "rollproof_peers_known",
                    "Peers this node has recorded and not banned.",
                    value=s.scalar(select(func.count()).select_from(Peer).where(Peer.banned.is_(False))) or 0,
                )
            )
            block = s.scalar(select(func.max(EventCursor.block)))
            out.append(
                GaugeMetricFamily(
                    "rollproof_chain_block",
                    "Last chain block processed by this node's event followers.",
                    value=block or 0,
                )
            )
            cursors = GaugeMetricFamily(
                "rollproof_event_block", "Last processed block per event follower.", labels=["name"]
            )
            for c in s.scalars(select(EventCursor)):
                cursors.add_metric([c.name], c.block)
            out.append(cursors)
        return out
