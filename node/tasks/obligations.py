"""Settlement v2 obligations (PROTOCOL.md §2.5-2.9): read from the chain, never from settings."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from node.tasks.beacons import task_randomness

if TYPE_CHECKING:
    from node.runtime.context import NodeContext

log = logging.getLogger("rollproof.roles")


# A forced miner's prescribed wrong commitment: its honest tokens with every committed logprob
# shifted by this many nats, far beyond any task's logprob tolerance (docs/PROTOCOL.md §9.2).
FORCED_LOGPROB_SHIFT = 0.01


def settlement_params(ctx: NodeContext) -> Any:
    """The Settlement deploy parameters (immutable, so read once per process)."""
    cached = getattr(ctx, "_settlement_params", None)
    if cached is None:
        cached = ctx.chain.settlement.params()
        object.__setattr__(ctx, "_settlement_params", cached)
    return cached


def forced_error_secret(ctx: NodeContext, task_id: int) -> bytes:
    """The miner's per-task forced-error secret, derived from its key: a restart recovers it."""
    from chain.clients import derive_forced_error_secret

    return derive_forced_error_secret(ctx.account_key, task_id)


def forced_on_task(ctx: NodeContext, task_id: int) -> bool | None:
    """Whether this miner must commit the prescribed wrong commitment (None before the seed beacon)."""
    from chain.clients import is_forced

    seed = task_randomness(ctx, task_id, "seed")
    if seed is None:
        return None
    odds = settlement_params(ctx).forced_error_odds
    return is_forced(forced_error_secret(ctx, task_id), seed, odds)


def forced_error_rollouts(rollouts: list[Any]) -> list[Any]:
    """The prescribed wrong commitment: the same tokens and rewards, every logprob shifted (float32)."""
    import dataclasses

    import numpy as np

    out = []
    for r in rollouts:
        shifted = tuple(float(np.float32(lp) + np.float32(FORCED_LOGPROB_SHIFT)) for lp in r.logprobs)
        out.append(dataclasses.replace(r, logprobs=shifted))
    return out


def committee_seats(ctx: NodeContext, task_id: int) -> int | None:
    """This validator's seats on the task's committee, from the chain (None before the challenge
    beacon is recorded there: the committee does not exist yet)."""
    from chain.errors import ChainRevert

    try:
        return ctx.chain.settlement.committee_seats(task_id, ctx.address)
    except ChainRevert as exc:
        if exc.name == "ChallengeBeaconMissing":
            return None
        raise
