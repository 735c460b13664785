"""Shared helpers of the beacon tests (imported by name; pytest puts this folder on sys.path)."""

from __future__ import annotations

import time
from pathlib import Path

from node.devnet.beacon import DEVNET_SEED, DevnetBeacon

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "contracts" / "test" / "fixtures"
DEVNET_TEST_PERIOD = 1
DEVNET_TEST_AGE = 40  # rounds already published when the tests start


def make_devnet(seed: bytes = DEVNET_SEED, age: int = DEVNET_TEST_AGE) -> DevnetBeacon:
    """A 1-second devnet chain whose first `age` rounds are already published."""
    return DevnetBeacon.from_seed(seed, genesis_time=int(time.time()) - age, period=DEVNET_TEST_PERIOD)
