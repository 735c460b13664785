"""End-to-end tests run whole devnets (real Anvil, beacon, libp2p, one OS process per node)."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
