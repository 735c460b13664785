"""The Anvil fixture: time travel, snapshots, and no orphan process even when a test fails."""

from __future__ import annotations

import os

import pytest

from chain.anvil import Anvil, AnvilConfig


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); check its state.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_anvil_is_killed_when_the_body_raises():
    with pytest.raises(RuntimeError, match="boom"):
        with Anvil() as node:
            pid = node._proc.pid
            assert _alive(pid) and node.rpc("eth_chainId") == "0x7a69"
            raise RuntimeError("boom")
    assert not _alive(pid)


def test_time_travel_and_snapshots(anvil):
    start = anvil.timestamp()
    anvil.increase_time(1000)
    assert anvil.timestamp() >= start + 1000
    snap = anvil.snapshot()
    block = anvil.block_number()
    anvil.mine(5)
    assert anvil.block_number() == block + 5
    anvil.revert(snap)
    assert anvil.block_number() == block
    anvil.warp_to(anvil.timestamp() + 77)
    assert anvil.timestamp() >= start + 1077


def test_anvil_writes_no_block_states_to_disk(tmp_path):
    # Unpruned, Anvil spills every block's state past its in-memory window to this directory
    # (megabytes a block once contracts are deployed): a test session filled CI's disk that way.
    cache = tmp_path / "anvil-states"
    cache.mkdir()
    with Anvil(AnvilConfig(extra_args=["--cache-path", str(cache)])) as node:
        node.mine(1200)
        assert node.block_number() >= 1200
    assert list(cache.rglob("*")) == []
