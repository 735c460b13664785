"""End-to-end tests run whole devnets (real Anvil, beacon, libp2p, one OS process per node).

Every test here is marked `slow` (deselect with `-m "not slow"`); together they take about 10 minutes
on two busy cores, mostly the start-up of 5-8 Python processes that import torch and transformers.
"""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = str(item.fspath).replace(os.sep, "/")
        if "tests/e2e/" in path and not path.endswith("_units.py"):
            item.add_marker(pytest.mark.slow)
