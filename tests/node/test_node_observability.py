"""Prometheus /metrics per node and structured JSON-lines logs."""

from __future__ import annotations

import io
import json
import logging
import re
import socket
import time
from pathlib import Path

import httpx
import pytest

from node.config import UserError
from node.logging import setup_logging
from node.metrics import LiveSources, NodeMetrics, start_metrics_server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_metrics_are_served_per_node_and_isolated(tmp_path: Path) -> None:
    from node.store import Role, open_store

    stores = [open_store(f"sqlite:///{tmp_path / f'{n}.db'}") for n in ("a", "b")]
    try:
        a, b = (NodeMetrics(store=s, live=LiveSources()) for s in stores)
        for _ in range(3):
            stores[0].upsert_task(1)
        stores[0].track_task(1, Role.MINER)
        port = free_port()
        server = start_metrics_server(a, port)
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
            assert 'rollproof_tasks{role="miner",state="SEEN"} 1.0' in text
            assert b"rollproof_tasks{" not in b.render()  # b reads its own store
            with pytest.raises(UserError, match=f"metrics port {port} on 127.0.0.1 is already in use"):
                start_metrics_server(NodeMetrics(), port)
        finally:
            server.shutdown()
        assert start_metrics_server(NodeMetrics(), 0) is None  # 0 turns metrics off
    finally:
        for s in stores:
            s.close()


def test_json_lines_logs_carry_extra_fields(tmp_path: Path) -> None:
    stream = io.StringIO()
    log_file = tmp_path / "logs" / "node.jsonl"
    try:
        setup_logging("info", json_lines=True, log_file=log_file, node="miner-1", stream=stream)
        log = logging.getLogger("rollproof.test")
        log.info("committed root", extra={"task_id": 7, "root": b"\x01\x02"})
        log.info("joined", extra={"fields": {"task_id": 8, "adapter": "0xab"}})
        log.debug("hidden at info")
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert [entry["msg"] for entry in lines] == ["committed root", "joined"]
        assert lines[0]["task_id"] == 7 and lines[0]["root"] == "0x0102" and lines[0]["node"] == "miner-1"
        assert lines[0]["level"] == "info" and lines[0]["logger"] == "rollproof.test"
        assert lines[1]["task_id"] == 8 and lines[1]["adapter"] == "0xab"
        file_lines = [json.loads(line) for line in log_file.read_text().splitlines()]
        assert [entry["msg"] for entry in file_lines] == ["committed root", "joined"]
    finally:
        setup_logging("warning", stream=io.StringIO())
    with pytest.raises(ValueError, match="not a log level"):
        setup_logging("loud")


def sample(metrics: NodeMetrics, name: str, labels: dict[str, str] | None = None) -> float:
    """The value of one series as a scrape reads it (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            if s.name == name and (labels is None or all(s.labels.get(k) == v for k, v in labels.items())):
                return s.value
    return 0.0


MINER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def test_every_exported_metric_moves_when_its_event_happens(tmp_path: Path) -> None:
    """One event per metric, written the way the roles write it (through the store or the p2p host);
    the metric must move from its value before the event."""
    from node.store import MinerState, Role, RolloutRecord, TxStatus, open_store

    store = open_store(f"sqlite:///{tmp_path / 'node.db'}")
    live = LiveSources()
    metrics = NodeMetrics(store=store, live=live)
    h = lambda n: n.to_bytes(32, "big")  # noqa: E731
    store.upsert_task(1)

    def moves(name: str, event, labels: dict[str, str] | None = None, by: float | None = None) -> None:
        before = sample(metrics, name, labels)
        event()
        after = sample(metrics, name, labels)
        assert after != before, f"{name} did not move"
        if by is not None:
            assert after - before == by, (name, before, after)

    try:
        moves(
            "rollproof_tasks", lambda: store.track_task(1, Role.MINER), {"role": "miner", "state": "SEEN"}, 1
        )
        moves(
            "rollproof_task_transitions_total",
            lambda: store.transition(1, Role.MINER, MinerState.JOINED),
            {"role": "miner", "state": "JOINED"},
            1,
        )
        rollouts = [
            RolloutRecord(0, g, [1, 2, 3, 4][: g + 2], [-0.5] * (g + 2), 0, h(10 + g), "x") for g in range(2)
        ]
        moves("rollproof_rollouts_generated_total", lambda: store.add_own_rollouts(1, rollouts[:1]), by=1)
        moves("rollproof_tokens_generated_total", lambda: store.add_own_rollouts(1, rollouts[1:]), by=3)
        moves(
            "rollproof_rollouts_received_total",
            lambda: store.add_received_rollout(1, MINER, 0, 0, b"payload", leaf=h(5)),
            by=1,
        )
        moves(
            "rollproof_audits_total",
            lambda: store.record_audit(1, MINER, 0, 0, passed=False),
            {"result": "fail"},
            1,
        )
        moves("rollproof_verdicts_total", lambda: store.save_verdict(1, [], h(1), h(2)), by=1)
        moves(
            "rollproof_transactions",
            lambda: store.record_signed_tx("join:1", sender=MINER, nonce=0, tx_hash=h(7)),
            {"status": TxStatus.SIGNED},
            1,
        )
        moves(
            "rollproof_rewards_rpt_total",
            lambda: store.record_outcome(1, MINER, Role.MINER, "PASSED", paid=3 * 10**18),
            by=3,
        )
        moves(
            "rollproof_slashed_rpt_total",
            lambda: store.record_outcome(
                1, "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC", Role.MINER, "FAILED", slashed=2 * 10**18
            ),
            by=2,
        )
        moves("rollproof_peers_known", lambda: store.upsert_peer("16Uiu2HAmA", roles=["miner"]), by=1)
        moves("rollproof_chain_block", lambda: store.set_cursor("miner-events", 42))
        moves(
            "rollproof_event_block",
            lambda: store.set_cursor("validator-events", 7),
            {"name": "validator-events"},
        )
        # Two real libp2p hosts on 127.0.0.1: rollproof_peers follows the node's live connections.
        from node.p2p import P2PConfig, P2PNode

        def config(bootstrap: list[str]) -> P2PConfig:
            return P2PConfig(
                listen_addr="/ip4/127.0.0.1/tcp/0", bootstrap=bootstrap, eclipse_protection=False
            )

        anyone = lambda address: True  # noqa: E731 - staking is not what this test is about
        first = P2PNode(
            config([]), (0x1001).to_bytes(32, "big"), anyone, identity_secret=(0x2001).to_bytes(32, "big")
        )
        first.start()
        second = None
        try:
            live.set_p2p(first)
            assert sample(metrics, "rollproof_peers") == 0
            second = P2PNode(
                config([first.listen_addrs[0]]),
                (0x1002).to_bytes(32, "big"),
                anyone,
                identity_secret=(0x2002).to_bytes(32, "big"),
            )
            second.start()
            deadline = time.monotonic() + 60
            while sample(metrics, "rollproof_peers") < 1 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert sample(metrics, "rollproof_peers") == 1
            assert "rollproof_p2p_peers" in metrics.render().decode()  # the host's own series ride along
        finally:
            for node in (second, first):
                if node is not None:
                    node.stop()
        assert sample(metrics, "rollproof_chain_block") == 42
    finally:
        store.close()


def test_every_metric_name_of_the_node_is_covered_by_the_moving_test() -> None:
    """A metric added to the collectors without a row in the test above fails here."""
    import inspect

    from node import metrics as module

    source = inspect.getsource(module)
    exported = set(re.findall(r'"(rollproof_[a-z_]+)"', source))
    covered = set(
        re.findall(
            r'"(rollproof_[a-z_]+?)(?:_total)?"',
            inspect.getsource(test_every_exported_metric_moves_when_its_event_happens),
        )
    )
    assert exported <= covered, exported - covered
