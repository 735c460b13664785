"""Gossip throughput and latency on loopback: N nodes in N OS processes, one publisher, M messages.

    .venv/bin/python bench/p2p.py                 # 2, 5, 8 nodes x 4 KB, 64 KB
    .venv/bin/python bench/p2p.py --nodes 2 --sizes 4096 --messages 100
    sudo .venv/bin/python bench/p2p.py --multihost  # 4 network namespaces: loss, delay, partition, restart

The publisher publishes as fast as backpressure lets it (its rate cap is lifted), or at --rate; msgs/s is
M / (time until the LAST node holds all M), latency is sender timestamp -> delivery on each
receiving node. Prints a Markdown table for docs/P2P.md. Never asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eth_account import Account  # noqa: E402

from node.p2p import P2PConfig, P2PNode, RolloutMsg, rollouts_topic  # noqa: E402
from node.p2p.metrics import percentile  # noqa: E402

TASK = 1
TOPIC = rollouts_topic(TASK)


def key(i: int) -> bytes:
    return (0x5000 + i).to_bytes(32, "big")


def payload_of_size(size: int, p: int) -> RolloutMsg:
    """A rollout whose envelope is about `size` bytes (8 bytes per token: uint32 id + float32 logprob)."""
    n = max(1, (size - 200 - 64 * 4) // 8)
    return RolloutMsg(
        TASK, Account.from_key(key(0)).address, p, 0, tuple(range(64)), (7,) * n, (-0.5,) * n, 0
    )


def worker(spec: dict) -> None:
    staked = {Account.from_key(key(i)).address for i in range(spec["n"])}
    cfg = P2PConfig(
        listen_addr="/ip4/127.0.0.1/tcp/0",
        bootstrap=spec["bootstrap"],
        eclipse_protection=False,
        publish_rate=100_000.0,
        sender_rate=100_000.0,
        sender_burst=100_000.0,
    )
    node = P2PNode(cfg, key(spec["i"]), staked.__contains__, (0x6000 + spec["i"]).to_bytes(32, "big")).start()
    lock = threading.Lock()
    lat: list[float] = []
    last = [0.0]

    def on_msg(m) -> None:
        now = time.time()
        with lock:
            lat.append(now - m.sent_ms / 1000)
            last[0] = now

    def out(obj: dict) -> None:
        print(json.dumps(obj), flush=True)

    out({"ready": node.listen_addrs})
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["cmd"] == "sub":
            node.subscribe(TOPIC, on_msg)
            out({"ok": node.wait_for_topic_peers(TOPIC, cmd["peers"], 60)})
        elif cmd["cmd"] == "pub":
            msgs = [payload_of_size(cmd["size"], p) for p in range(cmd["count"])]
            gap = 1.0 / cmd["rate"] if cmd.get("rate") else 0.0
            t0 = time.time()
            for k, m in enumerate(msgs):
                if gap and (delay := t0 + k * gap - time.time()) > 0:
                    time.sleep(delay)
                node.publish(TOPIC, m)
            out({"t0": t0, "seconds": time.time() - t0})
        elif cmd["cmd"] == "wait":
            deadline = time.monotonic() + cmd["timeout"]
            while len(lat) < cmd["count"] and time.monotonic() < deadline:
                time.sleep(0.02)
            with lock:
                out({"lat": list(lat), "last": last[0], "dropped": node.stats()["outbound_dropped"]})
                lat.clear()
        else:
            break
    node.stop()


class Proc:
    def __init__(self, spec: dict) -> None:
        self.p = subprocess.Popen(
            [sys.executable, __file__, "--worker", json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.addrs = self.read()["ready"]

    def read(self) -> dict:
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError("a bench worker died")
        return json.loads(line)

    def send(self, **cmd) -> None:
        self.p.stdin.write(json.dumps(cmd) + "\n")
        self.p.stdin.flush()

    def close(self) -> None:
        try:
            self.send(cmd="quit")
            self.p.wait(20)
        except Exception:
            self.p.kill()


def run(n: int, size: int, count: int, rate: float = 0.0) -> dict:
    procs: list[Proc] = []
    try:
        for i in range(n):
            procs.append(Proc({"i": i, "n": n, "bootstrap": [a for q in procs for a in q.addrs]}))
        for q in procs:
            q.send(cmd="sub", peers=n - 1)
        for q in procs:
            q.read()
        procs[0].send(cmd="pub", size=size, count=count, rate=rate)
        t0 = procs[0].read()["t0"]
        lat: list[float] = []
        last, dropped, complete = t0, 0, True
        for q in procs[1:]:
            q.send(cmd="wait", count=count, timeout=600)
            res = q.read()
            complete &= len(res["lat"]) == count
            lat += res["lat"]
            dropped += res["dropped"]
            last = max(last, res["last"])
        lat.sort()
        elapsed = max(last - t0, 1e-9)
        return {
            "nodes": n,
            "size": size,
            "messages": count,
            "msgs_per_s": count / elapsed if complete else float("nan"),
            "p50_ms": percentile(lat, 50) * 1000,
            "p95_ms": percentile(lat, 95) * 1000,
            "complete": complete,
            "dropped": dropped,
        }
    finally:
        for q in procs:
            q.close()


def multihost(runs: int, per_phase: int, rate: float) -> None:
    """The scenario of tests/netns/test_multihost.py (four namespaces behind an impairing switch)."""
    import tempfile

    from tests.netns.scenario import run as run_scenario
    from tests.netns.switch import can_make_namespaces

    reason = can_make_namespaces()
    if reason is not None:
        raise SystemExit(f"--multihost: {reason}")
    print(
        f"# multi-host p2p bench: 4 namespaces, 2 publishers x {per_phase} rollouts (2.5 KB) per phase "
        f"at {rate:g} msg/s each, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (shared machine)"
    )
    print("| run | phase | delivered | p50 | p95 |")
    print("|---:|---|---:|---:|---:|")
    recoveries = []
    for k in range(1, runs + 1):
        with tempfile.TemporaryDirectory() as tmp:
            out = run_scenario(
                Path(tmp), prefix=f"rptb{os.getpid() % 10000}r{k}n", per_phase=per_phase, rate=rate
            )
        for name, ph in out["phases"].items():
            print(
                f"| {k} | {name} | {ph['delivered']}/{ph['expected']} | {ph['p50_ms']} ms | {ph['p95_ms']} ms |"
            )
        lost = sum(f["missing"] for f in out["final"].values())
        recoveries.append(
            f"run {k}: publishing during the partition took {out['publish_during_partition_s']} s for "
            f"{per_phase} msgs/publisher; partitioned host complete {out['recovery_after_heal_s']} s after the heal "
            f"({out['partitioned_s']} s cut), {out['recovery_after_restart_s']} s after its restart; "
            f"lost rollouts at the end: {lost} of {out['total_published']} x 3 receivers; "
            f"load average {os.getloadavg()[0]:.1f}"
        )
    print()
    for line in recoveries:
        print(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker")
    ap.add_argument("--multihost", action="store_true", help="the namespace scenario (root)")
    ap.add_argument("--runs", type=int, default=1, help="--multihost: repetitions")
    ap.add_argument("--per-phase", type=int, default=40, help="--multihost: rollouts per publisher and phase")
    ap.add_argument("--nodes", default="2,5,8")
    ap.add_argument("--sizes", default="4096,65536")
    ap.add_argument("--messages", type=int, default=0, help="per run (default: 300 at 4 KB, 60 at 64 KB)")
    ap.add_argument(
        "--rate", type=float, default=0.0, help="pace the publisher (msg/s); 0 = as fast as it can"
    )
    args = ap.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
        return
    if args.multihost:
        multihost(args.runs, args.per_phase, args.rate or 20.0)
        return
    pace = f"paced at {args.rate:g} msg/s" if args.rate else "publisher unpaced (saturating)"
    print(f"# p2p bench, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, {pace}")
    print("| nodes | message | messages | msgs/s | p50 latency | p95 latency | all delivered | drops |")
    print("|---:|---:|---:|---:|---:|---:|:--|---:|")
    for n in [int(x) for x in args.nodes.split(",")]:
        for size in [int(x) for x in args.sizes.split(",")]:
            count = args.messages or (300 if size <= 8192 else 60)
            r = run(n, size, count, args.rate)
            print(
                f"| {n} | {size // 1024} KB | {count} | {r['msgs_per_s']:.0f} | {r['p50_ms']:.0f} ms "
                f"| {r['p95_ms']:.0f} ms | {'yes' if r['complete'] else 'NO'} | {r['dropped']} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
