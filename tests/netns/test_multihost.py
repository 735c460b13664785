"""Four hosts in four network namespaces (real addresses, a real TCP/IP stack each) behind an
impairing switch: discovery from the deployment file, loss and delay, a silent partition and a
restart, with zero lost rollouts (tests/netns/scenario.py describes the phases)."""

from __future__ import annotations

import os

import pytest

from tests.netns.scenario import HOSTS, run
from tests.netns.switch import can_make_namespaces

pytestmark = pytest.mark.timeout(300)

REASON = can_make_namespaces()


@pytest.mark.skipif(REASON is not None, reason=REASON or "")
def test_four_hosts_lose_nothing_through_loss_partition_and_restart(tmp_path):
    out = run(tmp_path, prefix=f"rpt{os.getpid() % 100000}n")
    print("\nmulti-host figures:", {k: v for k, v in out.items() if k != "final"})
    # Discovery: each host advertised its namespace address (0.0.0.0 expanded), never loopback.
    for i, addrs in out["advertised"].items():
        assert addrs == [f"/ip4/10.210.0.{int(i) + 1}/tcp/4001"], addrs
    # Clean and impaired phases: every receiver got every rollout.
    for name, phase in out["phases"].items():
        assert phase["delivered"] == phase["expected"], (name, phase)
    # The silent partition did not hold up publishing to the healthy host.
    assert out["healthy_missing_during_partition"] == 0
    # After the partition heals, and again after the restart, the cut-off host holds everything.
    assert out["missing_after_heal"] == 0
    assert out["missing_after_restart"] == 0
    # 0 lost rollouts, no duplicates, on every host; the partitioned peer was detected as dead.
    for r in range(HOSTS):
        final = out["final"][r]
        assert final["missing"] == 0 and final["duplicates"] == 0, (r, final)
        assert final["stats"]["rejected"].keys() <= {"duplicate"}, final["stats"]["rejected"]
    assert sum(out["final"][r]["stats"]["dead_peers_dropped"] for r in (0, 1, 2)) >= 1
    assert out["switch"]["dropped_loss"] > 0 and out["switch"]["dropped_cut"] > 0
