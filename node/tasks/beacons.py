"""A task's drand beacons: each round once due (read through the context's verified client), the
task's randomness, and the round recorded in the DrandBeacon contract."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from chain.errors import ChainError
from node.runtime.errors import RoleError
from verifier.beacon import Beacon

if TYPE_CHECKING:
    from node.runtime.context import NodeContext

log = logging.getLogger("rollproof.roles")


def beacon_if_due(ctx: NodeContext, round_: int) -> Beacon | None:
    """The verified beacon of `round_` once its time has come, else None (never blocks long)."""
    if ctx.beacon is None:
        raise RoleError("This role needs a beacon URL (--beacon-url) to read drand rounds.")
    info = ctx.beacon.info()
    if time.time() < info.time_of_round(round_):
        return None
    try:
        return ctx.beacon.get(round_)
    except Exception as exc:  # noqa: BLE001 - BeaconUnavailable or a network error: try next loop
        log.warning("beacon round %d not available yet: %s", round_, exc)
        return None


def task_randomness(ctx: NodeContext, task_id: int, which: str) -> bytes | None:
    """The verified seed or challenge randomness of a task (stored once known)."""
    row = ctx.store.get_task(task_id)
    assert row is not None
    stored = row.seed_randomness if which == "seed" else row.challenge_randomness
    if stored is not None:
        return bytes.fromhex(stored[2:])
    round_ = row.seed_round if which == "seed" else row.challenge_round
    beacon = beacon_if_due(ctx, int(round_ or 0))
    if beacon is None:
        return None
    ctx.store.set_task_randomness(task_id, **{which: beacon.randomness})
    return beacon.randomness


def record_beacon_on_chain(ctx: NodeContext, round_: int) -> bool:
    """Make sure the beacon of `round_` is recorded in the DrandBeacon contract (anyone may)."""
    if ctx.chain.beacon.randomness(round_) is not None:
        return True
    beacon = beacon_if_due(ctx, round_)
    if beacon is None:
        return False
    r, sig, point = beacon.onchain_args()
    try:
        ctx.chain.beacon.record_beacon(r, sig, point)
    except ChainError as exc:
        if ctx.chain.beacon.randomness(round_) is None:
            raise
        log.info("beacon %d was recorded by someone else first (%s)", round_, exc)
    return True
