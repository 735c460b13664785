"""A task's drand beacons: the verified client, each round once due, the task's randomness, and
the round recorded in the DrandBeacon contract."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import httpx

from chain.deploy import Deployment
from chain.errors import ChainError
from node.runtime.errors import RoleError
from verifier.beacon import Beacon, ChainInfo, DrandClient

if TYPE_CHECKING:
    from node.runtime.context import NodeContext

log = logging.getLogger("rollproof.roles")


def beacon_client(urls: list[str], deployment: Deployment) -> DrandClient:
    """A drand client whose trust root is the beacon key the deployed DrandBeacon contract verifies.

    The relay's /info is fetched once and accepted only if its public key, genesis and period are
    the contract's, so a relay can never introduce its own key.
    """
    if not urls:
        raise RoleError("No beacon URL is configured; pass --beacon-url (a drand HTTP relay).")
    want = deployment.beacon
    problems = []
    for url in urls:
        try:
            reply = httpx.get(url.rstrip("/") + "/info", timeout=5.0)
            reply.raise_for_status()
            info = ChainInfo.from_json(reply.json())
        except (httpx.HTTPError, ValueError) as exc:
            problems.append(f"{url}: {exc}")
            continue
        if (info.public_key, info.genesis_time, info.period) != (want.public_key, want.genesis, want.period):
            problems.append(f"{url}: serves another beacon chain than the deployed DrandBeacon")
            continue
        return DrandClient(urls, info=info, retries=2, backoff=0.2)
    raise RoleError("No beacon relay could be used: " + "; ".join(problems) + ".")


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
