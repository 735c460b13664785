"""Multi-process swarm tests: zero loss at devnet rate, churn with SIGKILL, late joiner catch-up."""

from __future__ import annotations

import pytest

from node.p2p import rollouts_topic
from node.p2p.metrics import percentile
from tests.p2p.helpers import address
from tests.p2p.procs import Worker

pytestmark = pytest.mark.timeout(420)


def start_swarm(n: int, staked: list[int]) -> list[Worker]:
    workers: list[Worker] = []
    try:
        for i in range(n):
            # Each node bootstraps from every earlier one, as it would from the on-chain registry.
            workers.append(Worker(i, staked, [a for w in workers for a in w.addrs]))
    except Exception:
        for w in workers:
            w.close()
        raise
    return workers


def subscribe_all(workers: list[Worker], topic: str) -> None:
    for w in workers:
        assert w.call(cmd="sub", topic=topic)["ok"]
    for w in workers:
        assert w.call(cmd="wait_peers", topic=topic, n=len(workers) - 1, timeout=30)["ok"], (
            "mesh did not form"
        )


def test_five_processes_thousand_rollouts_zero_loss():
    n, publishers, per_publisher, rate = 5, 4, 250, 10.0  # 40 rollouts/s: a busy devnet
    topic = rollouts_topic(11)
    workers = start_swarm(n, list(range(n)))
    try:
        subscribe_all(workers, topic)
        for i in range(publishers):
            workers[i].send(cmd="pub", topic=topic, task=11, p0=0, count=per_publisher, rate=rate)
        for i in range(publishers):
            assert workers[i].recv()["ok"]
        expected_all = {(address(i), p, 0) for i in range(publishers) for p in range(per_publisher)}
        latencies: list[float] = []
        for i, w in enumerate(workers):
            expected = {k for k in expected_all if k[0] != address(i)}
            assert w.call(cmd="wait_count", topic=topic, n=len(expected), timeout=200)["count"] == len(
                expected
            )
            res = w.call(cmd="result", topic=topic)
            keys = [tuple(k) for k in res["keys"]]
            assert len(keys) == len(set(keys)), f"node {i} got duplicates"
            assert set(keys) == expected, f"node {i} missed {len(expected - set(keys))} messages"
            assert res["stats"]["outbound_dropped"] == 0
            assert res["stats"]["rejected"] == {}
            latencies += res["lat"]
        latencies.sort()
        print(
            f"\n5 processes, {publishers * per_publisher} rollouts ({rate * publishers:.0f} msg/s): "
            f"{len(latencies)} deliveries, p50 {percentile(latencies, 50) * 1000:.1f} ms, "
            f"p95 {percentile(latencies, 95) * 1000:.1f} ms"
        )
        byes = [w.close() for w in workers]
        assert byes == [{"bye": True, "failure": None}] * n  # every host shut down cleanly
    finally:
        for w in workers:
            w.close()


def test_sigkilled_node_rejoins_and_late_joiner_catches_up():
    topic = rollouts_topic(12)
    workers = start_swarm(3, [0, 1, 2, 3])
    late = None
    try:
        subscribe_all(workers, topic)
        assert workers[0].call(cmd="pub", topic=topic, task=12, p0=0, count=20, rate=50)["ok"]
        assert workers[2].call(cmd="wait_count", topic=topic, n=20, timeout=30)["count"] == 20
        workers[2].kill()
        # Restarted with the same identity key: it rejoins from its bootstrap list.
        workers[2] = Worker(2, [0, 1, 2, 3], workers[0].addrs + workers[1].addrs)
        assert workers[2].call(cmd="sub", topic=topic)["ok"]
        assert workers[0].call(cmd="wait_peers", topic=topic, n=2, timeout=30)["ok"]
        assert workers[2].call(cmd="wait_peers", topic=topic, n=2, timeout=30)["ok"]
        assert workers[0].call(cmd="pub", topic=topic, task=12, p0=20, count=20, rate=50)["ok"]
        new_keys = [[address(0), p, 0] for p in range(20, 40)]
        assert workers[2].call(cmd="wait_keys", topic=topic, keys=new_keys, timeout=60)["missing"] == 0
        # What it missed while down comes back by itself: subscribing and every (re)connection
        # fetch the topic's history from the peers, re-validating every envelope; no duplicates.
        all_keys = [[address(0), p, 0] for p in range(40)]
        assert workers[2].call(cmd="wait_keys", topic=topic, keys=all_keys, timeout=60)["missing"] == 0
        res = workers[2].call(cmd="result", topic=topic)
        assert sorted(tuple(k) for k in res["keys"]) == sorted((address(0), p, 0) for p in range(40))
        # An explicit fetch finds nothing new.
        assert workers[2].call(cmd="history", peer=workers[1].addrs[0], topic=topic)["new"] == 0
        # A node that joins after the task began catches up the same way; 0..19 left the gossip
        # window long ago, so only request/response brings them.
        late = Worker(3, [0, 1, 2, 3], workers[1].addrs)
        assert late.call(cmd="sub", topic=topic)["ok"]
        assert late.call(cmd="wait_keys", topic=topic, keys=all_keys, timeout=60)["missing"] == 0
        assert late.call(cmd="catch_up", topic=topic)["new"] == 0
        res = late.call(cmd="result", topic=topic)
        assert sorted(tuple(k) for k in res["keys"]) == sorted((address(0), p, 0) for p in range(40))
    finally:
        for w in workers + ([late] if late else []):
            w.close()
