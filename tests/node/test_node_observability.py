"""Prometheus /metrics per node and structured JSON-lines logs."""

from __future__ import annotations

import io
import json
import logging
import socket
from pathlib import Path

import httpx
import pytest

from node.config import UserError
from node.logging import setup_logging
from node.metrics import NodeMetrics, start_metrics_server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_metrics_are_served_per_node_and_isolated() -> None:
    a, b = NodeMetrics(), NodeMetrics()
    a.audits.labels("fail").inc(3)
    a.tasks.labels("miner", "JOINED").set(2)
    b.audits.labels("fail").inc(1)
    port = free_port()
    server = start_metrics_server(a, port)
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        assert 'rollproof_audits_total{result="fail"} 3.0' in text
        assert 'rollproof_tasks{role="miner",state="JOINED"} 2.0' in text
        assert b'rollproof_audits_total{result="fail"} 1.0' in b.render()  # b has its own registry
        with pytest.raises(UserError, match=f"metrics port {port} on 127.0.0.1 is already in use"):
            start_metrics_server(NodeMetrics(), port)
    finally:
        server.shutdown()
    assert start_metrics_server(NodeMetrics(), 0) is None  # 0 turns metrics off


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


def test_store_collector_exposes_task_states_and_outcomes(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from node.metrics import StoreCollector
    from node.store import MinerState, Role, open_store

    store = open_store(f"sqlite:///{tmp_path / 'node.db'}")
    try:
        store.upsert_task(1)
        store.track_task(1, Role.MINER)
        store.transition(1, Role.MINER, MinerState.JOINED)
        store.record_audit(1, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", 0, 0, passed=False)
        store.record_outcome(
            1, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", Role.MINER, "PASSED", paid=3 * 10**18
        )
        store.set_cursor("events", 42)
        registry = CollectorRegistry()
        registry.register(StoreCollector(store))
        text = generate_latest(registry).decode()
        assert 'rollproof_store_tasks{role="miner",state="JOINED"} 1.0' in text
        assert 'rollproof_store_audits_total{result="fail"} 1.0' in text
        assert "rollproof_store_paid_rpt_total 3.0" in text
        assert 'rollproof_store_event_block{name="events"} 42.0' in text
    finally:
        store.close()
