"""Prometheus metrics of the p2p layer, plus the plain counters behind `P2PNode.stats()`.

Each node owns a CollectorRegistry, so several nodes can live in one process (tests, benches)
without clashing; the node's metrics HTTP server exports `P2PMetrics.registry`.
"""

from __future__ import annotations

import threading
from collections import Counter, deque

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client import Counter as PCounter

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class P2PMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.peers = Gauge("rollproof_p2p_peers", "Connected libp2p peers", registry=r)
        self.msgs_in = PCounter("rollproof_p2p_messages_in", "Gossip messages accepted", ["kind"], registry=r)
        self.msgs_out = PCounter(
            "rollproof_p2p_messages_out", "Gossip messages published", ["kind"], registry=r
        )
        self.rejected = PCounter(
            "rollproof_p2p_messages_rejected", "Gossip messages rejected", ["reason"], registry=r
        )
        self.bytes_in = PCounter("rollproof_p2p_bytes_in", "Gossip bytes received", registry=r)
        self.bytes_out = PCounter("rollproof_p2p_bytes_out", "Gossip bytes published", registry=r)
        self.dropped = PCounter(
            "rollproof_p2p_outbound_dropped", "RPCs dropped by a full per-peer queue", registry=r
        )
        self.latency = Histogram(
            "rollproof_p2p_delivery_latency_seconds",
            "Sender timestamp to local delivery",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.requests = PCounter(
            "rollproof_p2p_requests", "Request/response calls", ["protocol", "side", "outcome"], registry=r
        )
        self.request_latency = Histogram(
            "rollproof_p2p_request_latency_seconds",
            "Client-side request latency",
            ["protocol"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.rejections: Counter[str] = Counter()
        self.recent_latency: deque[float] = deque(maxlen=2000)

    def count(self, name: str, n: int = 1) -> None:
        with self.lock:
            self.counts[name] += n

    def reject(self, reason: str) -> None:
        self.rejected.labels(reason).inc()
        with self.lock:
            self.rejections[reason] += 1

    def delivered(self, kind: str, nbytes: int, latency: float) -> None:
        self.msgs_in.labels(kind).inc()
        self.bytes_in.inc(nbytes)
        self.latency.observe(max(latency, 0.0))
        with self.lock:
            self.counts["messages_in"] += 1
            self.counts["bytes_in"] += nbytes
            self.recent_latency.append(latency)

    def published(self, kind: str, nbytes: int) -> None:
        self.msgs_out.labels(kind).inc()
        self.bytes_out.inc(nbytes)
        with self.lock:
            self.counts["messages_out"] += 1
            self.counts["bytes_out"] += nbytes

    def latency_percentiles(self) -> dict[str, float | None]:
        with self.lock:
            values = sorted(self.recent_latency)
        if not values:
            return {"p50": None, "p95": None}
        return {"p50": percentile(values, 50), "p95": percentile(values, 95)}


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    idx = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[idx]
