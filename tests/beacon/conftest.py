"""Fixtures for the beacon tests: drand vectors and a devnet beacon served over loopback HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from beacon_helpers import FIXTURES, make_devnet

from node.devnet.beacon import BeaconServer


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    return json.loads((FIXTURES / "drand_quicknet.json").read_text())


@pytest.fixture(scope="module")
def devnet_server() -> Iterator[BeaconServer]:
    with BeaconServer(make_devnet()) as server:
        yield server
