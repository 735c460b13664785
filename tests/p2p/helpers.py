"""Shared builders for the p2p tests and bench (realistic rollouts, deterministic keys)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

from eth_account import Account

from node.p2p import P2PConfig, RolloutMsg


def poll(cond, timeout: float = 60.0, interval: float = 0.05) -> bool:
    """Whether `cond()` becomes true within `timeout` s (checked every `interval` s, and once more at the end)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(interval)
    return cond()


def wait_for(predicate, what: str, timeout: float = 60.0) -> None:
    """Assert that `predicate()` becomes true within `timeout` s; `what` names it when it does not."""
    assert poll(predicate, timeout, 0.2), what


def account_key(i: int) -> bytes:
    return (0x1000 + i).to_bytes(32, "big")


def identity_secret(i: int) -> bytes:
    return (0x2000 + i).to_bytes(32, "big")


def address(i: int) -> str:
    return Account.from_key(account_key(i)).address


def staked_set(indices: range | list[int]):
    allowed = {address(i) for i in indices}
    return lambda addr: addr in allowed


def local_config(port: int = 0, bootstrap: list[str] | None = None, **kw) -> P2PConfig:
    return P2PConfig(
        listen_addr=f"/ip4/127.0.0.1/tcp/{port}",
        bootstrap=list(bootstrap or []),
        eclipse_protection=False,  # every test peer shares 127.0.0.1
        **kw,
    )


def make_rollout(
    task_id: int, miner_index: int, p: int, g: int, n_tokens: int = 256, prompt: int = 96
) -> RolloutMsg:
    """A rollout of realistic size: 256 completion tokens with float32 logprobs (~3.5 KB on the wire)."""
    rng = random.Random(hash((task_id, miner_index, p, g)))
    return RolloutMsg(
        task_id=task_id,
        miner=address(miner_index),
        p=p,
        g=g,
        prompt_ids=tuple(rng.randrange(49152) for _ in range(prompt)),
        tokens=tuple(rng.randrange(49152) for _ in range(n_tokens)),
        logprobs=tuple(-rng.random() * 5 for _ in range(n_tokens)),
        claimed_reward=rng.choice([0, 1_000_000]),
    )


def collector() -> tuple[list, Callable[[Any], None]]:
    """A list and a thread-safe handler that appends every delivered message to it."""
    got: list = []
    lock = threading.Lock()

    def on_msg(m: Any) -> None:
        with lock:
            got.append(m)

    return got, on_msg
