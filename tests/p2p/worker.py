"""A p2p node in its own OS process, driven by JSON lines on stdin (one reply line per command).

Usage: python tests/p2p/worker.py '{"index": 0, "bootstrap": [...], "staked": [0, 1, 2]}'
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from node.p2p import P2PNode, RequestError, WireError, deployment_bootstrap  # noqa: E402
from tests.p2p.helpers import account_key, identity_secret, local_config, make_rollout, staked_set  # noqa: E402


class Inbox:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: dict[str, list[tuple[str, int, int, float]]] = {}

    def handler(self, topic: str):
        def on_message(msg) -> None:
            latency = time.time() - msg.sent_ms / 1000
            with self.lock:
                self.items.setdefault(topic, []).append(
                    (msg.payload.sender, msg.payload.p, msg.payload.g, latency)
                )

        return on_message

    def count(self, topic: str) -> int:
        with self.lock:
            return len(self.items.get(topic, []))


def main() -> None:
    spec = json.loads(sys.argv[1])
    logging.basicConfig(
        level=logging.INFO if spec.get("log") else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if not os.environ.get("ROLLPROOF_LIBP2P_DEBUG"):
        for noisy in ("libp2p", "multiaddr", "async_service"):
            logging.getLogger(noisy).setLevel(logging.ERROR)
    config = local_config(
        port=spec.get("port", 0), bootstrap=spec.get("bootstrap", []), **spec.get("config", {})
    )
    if spec.get("listen"):  # e.g. /ip4/0.0.0.0/tcp/4001 inside a network namespace
        config.listen_addr = spec["listen"]
    if spec.get("deployment"):  # bootstrap peers from the deployment file, as an operator's node
        config.bootstrap += deployment_bootstrap(spec["deployment"])
    node = P2PNode(
        config, account_key(spec["index"]), staked_set(spec["staked"]), identity_secret(spec["index"])
    ).start()
    inbox = Inbox()

    def reply(obj) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    reply({"ready": node.listen_addrs, "peer_id": node.peer_id.to_base58(), "advertised": node.advertised})
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["cmd"]
        try:
            if op == "sub":
                node.subscribe(cmd["topic"], inbox.handler(cmd["topic"]))
                reply({"ok": True})
            elif op == "wait_peers":
                reply({"ok": node.wait_for_topic_peers(cmd["topic"], cmd["n"], cmd.get("timeout", 30))})
            elif op == "pub":
                gap = 1.0 / cmd["rate"]
                start = time.monotonic()
                for k in range(cmd["count"]):
                    delay = start + k * gap - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    node.publish(cmd["topic"], make_rollout(cmd["task"], spec["index"], cmd["p0"] + k, 0))
                reply({"ok": True, "seconds": time.monotonic() - start})
            elif op == "wait_count":
                deadline = time.monotonic() + cmd.get("timeout", 60)
                while inbox.count(cmd["topic"]) < cmd["n"] and time.monotonic() < deadline:
                    time.sleep(0.05)
                reply({"count": inbox.count(cmd["topic"])})
            elif op == "wait_keys":
                want = {tuple(k) for k in cmd["keys"]}
                deadline = time.monotonic() + cmd.get("timeout", 60)
                while True:
                    with inbox.lock:
                        have = {(s, p, g) for s, p, g, _ in inbox.items.get(cmd["topic"], [])}
                    if want <= have or time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
                reply({"missing": len(want - have)})
            elif op == "result":
                with inbox.lock:
                    items = list(inbox.items.get(cmd["topic"], []))
                reply(
                    {
                        "keys": [[s, p, g] for s, p, g, _ in items],
                        "lat": [x[3] for x in items],
                        "stats": node.stats(),
                    }
                )
            elif op == "history":
                reply({"new": node.fetch_history(cmd["peer"], cmd["topic"])})
            elif op == "catch_up":
                reply({"new": node.catch_up(cmd["topic"])})
            elif op == "raw":
                node.publish_envelope(cmd["topic"], bytes.fromhex(cmd["hex"]), check=False)
                reply({"ok": True})
            elif op == "stats":
                reply({"stats": node.stats()})
            elif op == "quit":
                break
            else:
                reply({"error": f"unknown command {op}"})
        except (RequestError, WireError) as exc:
            reply({"error": str(exc)})
    node.stop()
    reply({"bye": True, "failure": repr(node.failure) if node.failure else None})


if __name__ == "__main__":
    main()
