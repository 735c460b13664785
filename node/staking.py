"""This node's stake: what is missing before a role starts, staking it, and binding the peer id."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from node.runtime.errors import RoleError
from node.runtime.observe import event

if TYPE_CHECKING:
    from node.runtime.context import NodeContext

log = logging.getLogger("rollproof.roles")


def ensure_peer_registered(ctx: NodeContext) -> None:
    ctx.chain.stakes.register_peer(ctx.identity_secret)


def check_stake(ctx: NodeContext, role: int) -> int:
    """Before anything is sent: the RPT (base units) to add so the stake reaches `settings.stake`
    (0 when it is there already); a sentence when the target is below the role minimum or the
    account cannot pay, so a bad start leaves nothing half-done."""
    from chain.errors import format_rpt
    from node.config import UserError
    from node.ops.money import stake_to_add

    stakes = ctx.chain.stakes
    name = ("miner", "validator", "evaluator")[role]
    active, minimum = stakes.active_stake(ctx.address, role), stakes.min_stake(role)
    if ctx.settings.stake <= 0:
        if active >= minimum:
            return 0
        have = f"has no {name} stake" if active == 0 else f"has {format_rpt(active)} staked as {name}, below"
        raise RoleError(
            f"{ctx.address} {have} (minimum {format_rpt(minimum)}); stake with "
            f"`rollproof stake add AMOUNT --role {name}` or pass --stake, then start again."
        )
    try:
        missing = stake_to_add(ctx.settings.stake, active, minimum, name)
    except UserError as exc:
        raise RoleError(str(exc)) from None
    balance = ctx.chain.token.balance_of(ctx.address)
    if balance < missing:
        raise RoleError(
            f"{ctx.address} holds {format_rpt(balance)}, less than the {format_rpt(missing)} missing from its "
            f"{name} stake; fund the account first."
        )
    return missing


def ensure_staked(ctx: NodeContext, role: int) -> None:
    """Stake what is missing up to `settings.stake` (check_stake ran before)."""
    from chain.errors import format_rpt

    missing = check_stake(ctx, role)
    if missing:
        ctx.chain.stakes.stake(role, missing)
        name = ("miner", "validator", "evaluator")[role]
        event(log, f"staked {format_rpt(missing)} as {name}", role=name, amount_rpt=format_rpt(missing))


def free_stake(ctx: NodeContext, chain_role: int) -> int:
    """Active stake not locked by open tasks (what a join lock or a verdict bond can take)."""
    return ctx.chain.stakes.free_stake(ctx.address, chain_role)
