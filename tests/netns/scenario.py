"""The multi-host scenario, shared by tests/netns/test_multihost.py (asserts) and bench/p2p.py (figures).

Four hosts, each a network namespace with its own address (10.210.0.1-4) behind the impairing
switch; each runs a P2PNode process (tests/p2p/worker.py) as an operator would: listening on
/ip4/0.0.0.0/tcp/4001, bootstrap peers read from the deployment file (only host 0 is named there;
the others find each other by peer exchange). Hosts 0 and 1 publish 2.5 KB rollouts; host 3 is
partitioned silently, then SIGKILLed and restarted with the same identity.

Phases: clean; 5 % loss + 50 +- 20 ms delay; silent partition of host 3 (publishing must go on
for the others, and host 2 must get everything while host 3 is cut off); heal; restart of host 3
while messages are being published. Result: per phase, delivery (got/expected per receiver),
latency p50/p95, and the recovery times after heal and restart.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eth_account import Account

from node.p2p import add_deployment_bootstrap, peer_id_from_secret, rollouts_topic
from node.p2p.metrics import percentile
from tests.netns.switch import ImpairedSwitch
from tests.p2p.helpers import account_key, identity_secret
from tests.p2p.procs import Worker

TASK = 77
TOPIC = rollouts_topic(TASK)
HOSTS = 4
PORT = 4001
PUBLISHERS = (0, 1)
# Liveness tuned for a quick test on a busy machine: a peer silent for 2 x 2 s + 5 s is dropped.
NODE_CONFIG = {
    "ping_interval": 2.0,
    "ping_timeout": 5.0,
    "ping_failures": 2,
    "publish_stall_seconds": 1.0,
    "px_interval": 3.0,
    "reconnect_max_seconds": 2.0,
}


def address(i: int) -> str:
    return Account.from_key(account_key(i)).address


class Net:
    """The switch, the deployment file and the four node processes; close() undoes everything."""

    def __init__(self, workdir: Path, prefix: str) -> None:
        self.switch = ImpairedSwitch(HOSTS, prefix)
        self.workdir = workdir
        self.deployment = workdir / "deployment.json"
        self.nodes: list[Worker | None] = [None] * HOSTS
        self.published: dict[int, int] = {i: 0 for i in PUBLISHERS}  # next p per publisher

    def __enter__(self) -> Net:
        self.switch.__enter__()
        try:
            # The deployer's node (host 0) is the one bootstrap peer in the deployment file.
            self.deployment.write_text(json.dumps({"version": 1, "extra": {}}))
            boot = f"/ip4/{self.switch.address(0)}/tcp/{PORT}/p2p/{peer_id_from_secret(identity_secret(0))}"
            add_deployment_bootstrap(self.deployment, [boot])
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for node in self.nodes:
            if node is not None:
                try:
                    node.kill()
                except Exception:  # noqa: BLE001 - already gone
                    pass
        self.switch.close()

    def start(self, i: int) -> Worker:
        node = Worker(
            i,
            list(range(HOSTS)),
            prefix=self.switch.exec_prefix(i),
            listen=f"/ip4/0.0.0.0/tcp/{PORT}",
            deployment=str(self.deployment),
            config=NODE_CONFIG,
            log=str(self.workdir / f"host{i}.log"),
        )
        self.nodes[i] = node
        return node

    def node(self, i: int) -> Worker:
        node = self.nodes[i]
        assert node is not None
        return node

    def publish(self, count: int, rate: float) -> dict[int, list[list]]:
        """Both publishers publish `count` rollouts at `rate`/s each; returns the keys per publisher."""
        keys: dict[int, list[list]] = {}
        for i in PUBLISHERS:
            p0 = self.published[i]
            self.node(i).send(cmd="pub", topic=TOPIC, task=TASK, p0=p0, count=count, rate=rate)
            keys[i] = [[address(i), p, 0] for p in range(p0, p0 + count)]
            self.published[i] += count
        for i in PUBLISHERS:
            # A publisher that waited on a dead peer would not answer in time.
            reply = self.node(i).recv(timeout=count / rate + 30)
            assert reply.get("ok"), reply
        return keys

    def expected(self, receiver: int, keys: dict[int, list[list]]) -> list[list]:
        return [k for i, ks in keys.items() if i != receiver for k in ks]

    def wait_all(self, receiver: int, keys: dict[int, list[list]], timeout: float) -> int:
        """Missing messages at `receiver` after waiting up to `timeout` s."""
        want = self.expected(receiver, keys)
        reply = self.node(receiver).call(
            cmd="wait_keys", topic=TOPIC, keys=want, timeout=timeout, read_timeout=timeout + 30
        )
        return reply["missing"]

    def latencies(self, receiver: int, keys: dict[int, list[list]]) -> list[float]:
        res = self.node(receiver).call(cmd="result", topic=TOPIC)
        want = {tuple(k) for k in self.expected(receiver, keys)}
        return [lat for k, lat in zip(res["keys"], res["lat"], strict=True) if tuple(k) in want]


def phase_summary(net: Net, keys: dict[int, list[list]], receivers: list[int]) -> dict[str, Any]:
    got = expected = 0
    lat: list[float] = []
    for r in receivers:
        want = net.expected(r, keys)
        expected += len(want)
        missing = net.wait_all(r, keys, 60)
        got += len(want) - missing
        lat += net.latencies(r, keys)
    lat.sort()
    return {
        "delivered": got,
        "expected": expected,
        "p50_ms": round(percentile(lat, 50) * 1000, 1) if lat else None,
        "p95_ms": round(percentile(lat, 95) * 1000, 1) if lat else None,
    }


def run(
    workdir: Path,
    prefix: str,
    per_phase: int = 40,
    rate: float = 20.0,
    partition_s: float = 15.0,
    heal_wait: float = 30.0,
    progress: Callable[[str], None] = lambda line: None,
) -> dict:
    """Run every phase; returns the figures and the final per-node key sets for assertions."""
    out: dict[str, Any] = {"phases": {}}
    with Net(workdir, prefix) as net:
        for i in range(HOSTS):
            net.start(i)
        progress("started")
        for i in range(HOSTS):
            assert net.node(i).call(cmd="sub", topic=TOPIC, read_timeout=30)["ok"]
        # Discovery: hosts 1-3 know only host 0 (deployment file); each must come to see all three
        # others as topic peers, i.e. they found each other's signed address records.
        for i in range(HOSTS):
            assert net.node(i).call(cmd="wait_peers", topic=TOPIC, n=HOSTS - 1, timeout=60, read_timeout=90)[
                "ok"
            ], f"host {i} did not discover all peers"
        out["advertised"] = {i: net.node(i).call(cmd="stats")["stats"]["advertised"] for i in range(HOSTS)}
        everything: dict[int, list[list]] = {i: [] for i in PUBLISHERS}

        def note(keys: dict[int, list[list]]) -> None:
            for i, ks in keys.items():
                everything[i] += ks

        progress("discovered")
        # 1. clean
        keys = net.publish(per_phase, rate)
        note(keys)
        out["phases"]["clean"] = phase_summary(net, keys, [1, 2, 3, 0])
        progress("clean done")
        # 2. loss and delay
        net.switch.set(loss=0.05, delay=0.05, jitter=0.02)
        keys = net.publish(per_phase, rate)
        note(keys)
        out["phases"]["loss 5% + 50+-20 ms"] = phase_summary(net, keys, [1, 2, 3, 0])
        net.switch.set()
        progress("impaired done")
        # 3. silent partition of host 3: the others must not wait for it
        net.switch.cut(3)
        cut_at = time.monotonic()
        started = time.monotonic()
        keys = net.publish(per_phase, rate)
        out["publish_during_partition_s"] = round(time.monotonic() - started, 2)
        note(keys)
        out["healthy_missing_during_partition"] = net.wait_all(2, keys, 60)
        out["phases"]["partition (healthy host)"] = phase_summary(net, keys, [2])
        while time.monotonic() - cut_at < partition_s:
            time.sleep(0.2)
        out["partitioned_s"] = round(time.monotonic() - cut_at, 1)
        net.switch.heal(3)
        progress("healing")
        healed = time.monotonic()
        out["missing_after_heal"] = net.wait_all(3, everything, heal_wait)
        out["recovery_after_heal_s"] = round(time.monotonic() - healed, 2)
        progress("healed")
        # 4. restart host 3 (SIGKILL, same identity) while both publishers go on
        net.node(3).kill()
        net.nodes[3] = None
        keys = net.publish(per_phase, rate)
        note(keys)
        restarted = time.monotonic()
        node3 = net.start(3)
        assert node3.call(cmd="sub", topic=TOPIC, read_timeout=30)["ok"]
        out["missing_after_restart"] = net.wait_all(3, everything, 90)
        out["recovery_after_restart_s"] = round(time.monotonic() - restarted, 2)
        progress("restarted")
        # Final: every host holds every rollout of the others exactly once.
        final: dict[int, dict[str, Any]] = {}
        for r in range(HOSTS):
            res = net.node(r).call(cmd="result", topic=TOPIC)
            keys_r = [tuple(k) for k in res["keys"]]
            want = {tuple(k) for k in net.expected(r, everything)}
            final[r] = {
                "missing": len(want - set(keys_r)),
                "duplicates": len(keys_r) - len(set(keys_r)),
                "stats": res["stats"],
            }
        out["final"] = final
        out["switch"] = dict(net.switch.stats)
        out["total_published"] = sum(len(v) for v in everything.values())
    return out
