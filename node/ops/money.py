"""`rollproof stake add|unstake|withdraw`, `rollproof claim`, `rollproof balance`.

Every check that can fail on the operator's input (amount, minimum, balance, gas, cooldown) runs
on chain views before the first transaction, so a refused command leaves nothing half-done.
"""

from __future__ import annotations

from typing import Any

from node.config import Config, UserError
from node.ops.common import (
    ROLES,
    Report,
    connect,
    eth,
    node_address,
    parse_rpt,
    require_gas,
    role_index,
    rpt,
    rpt_text,
    unlock_account,
    when,
)


def stake_to_add(target: int, active: int, minimum: int, role: str) -> int:
    """What a role's `--stake TARGET` adds: the missing part up to TARGET (0 when already there).

    A target below the role minimum is refused: such a stake could never take part in a task.
    """
    if target < minimum:
        raise UserError(
            f"--stake {rpt(target)} is below the {role} minimum of {rpt(minimum)}; stake at least the minimum."
        )
    return max(0, target - active)


def stake_add(cfg: Config, amount_text: str, role: str = "miner") -> Report:
    """Add `amount` RPT to this account's active stake for `role`."""
    index = role_index(role)
    amount = parse_rpt(amount_text, "stake amount")
    account = unlock_account(cfg)
    chain = connect(cfg, account)
    who = account.address
    active, minimum = chain.stakes.active_stake(who, index), chain.stakes.min_stake(index)
    if active + amount < minimum:
        raise UserError(
            f"Staking {rpt(amount)} would leave {rpt(active + amount)} staked as {role}, below the {role} "
            f"minimum of {rpt(minimum)}; stake at least {rpt(minimum - active)}."
        )
    balance = chain.token.balance_of(who)
    if balance < amount:
        raise UserError(f"{who} holds {rpt(balance)}, less than the {rpt(amount)} to stake; fund it first.")
    require_gas(chain, who, "staking")
    receipt = chain.stakes.stake(index, amount)
    now_active = chain.stakes.active_stake(who, index)
    return Report(
        {
            "address": who,
            "role": role,
            "added_rpt": rpt_text(amount),
            "active_rpt": rpt_text(now_active),
            "minimum_rpt": rpt_text(minimum),
            "tx": receipt.tx_hash,
        },
        [
            f"Staked {rpt(amount)} as {role}: {rpt(now_active)} active (minimum {rpt(minimum)}), tx {receipt.tx_hash}."
        ],
    )


def stake_unstake(cfg: Config, amount_text: str, role: str = "miner") -> Report:
    """Start the cooldown of `amount` RPT (or 'all') of the active stake for `role`."""
    index = role_index(role)
    account = unlock_account(cfg)
    chain = connect(cfg, account)
    who = account.address
    active, minimum = chain.stakes.active_stake(who, index), chain.stakes.min_stake(index)
    amount = active if amount_text.strip().lower() == "all" else parse_rpt(amount_text, "unstake amount")
    if active == 0:
        raise UserError(f"{who} has no active {role} stake to unstake.")
    if amount > active:
        raise UserError(f"{who} has {rpt(active)} active as {role}, less than the {rpt(amount)} to unstake.")
    require_gas(chain, who, "unstaking")
    receipt = chain.stakes.request_unstake(index, amount)
    info = chain.stakes.stake_info(who, index)
    lines = [
        f"Unstaking {rpt(amount)} as {role}: {rpt(info.cooling)} cooling until {when(info.cooldown_end)}; "
        f"then `rollproof stake withdraw --role {role}`. Tx {receipt.tx_hash}."
    ]
    if 0 < info.active < minimum:
        lines.append(f"Warning: {rpt(info.active)} stays active, below the {role} minimum of {rpt(minimum)}.")
    return Report(
        {
            "address": who,
            "role": role,
            "unstaked_rpt": rpt_text(amount),
            "active_rpt": rpt_text(info.active),
            "cooling_rpt": rpt_text(info.cooling),
            "cooldown_end": info.cooldown_end,
            "tx": receipt.tx_hash,
        },
        lines,
    )


def stake_withdraw(cfg: Config, role: str = "miner") -> Report:
    """Withdraw the cooled-down stake of `role` to the account."""
    index = role_index(role)
    account = unlock_account(cfg)
    chain = connect(cfg, account)
    who = account.address
    info = chain.stakes.stake_info(who, index)
    if info.cooling == 0:
        raise UserError(
            f"{who} has no {role} stake cooling down; start with `rollproof stake unstake AMOUNT --role {role}`."
        )
    now = chain.timestamp()
    if now < info.cooldown_end:
        raise UserError(
            f"{rpt(info.cooling)} of {role} stake is cooling down until {when(info.cooldown_end, now)}; "
            "withdraw after that."
        )
    require_gas(chain, who, "withdrawing")
    receipt = chain.stakes.withdraw(index)
    return Report(
        {"address": who, "role": role, "withdrawn_rpt": rpt_text(info.cooling), "tx": receipt.tx_hash},
        [f"Withdrew {rpt(info.cooling)} of {role} stake to {who}, tx {receipt.tx_hash}."],
    )


def claim(cfg: Config) -> Report:
    """Withdraw every reward settlement credited to this account."""
    account = unlock_account(cfg)
    chain = connect(cfg, account)
    who = account.address
    amount = chain.settlement.claimable(who)
    if amount == 0:
        return Report({"address": who, "claimed_rpt": "0", "tx": None}, [f"Nothing to claim for {who}."])
    require_gas(chain, who, "claiming")
    receipt = chain.settlement.claim()
    tx = receipt.tx_hash if receipt is not None else None
    return Report(
        {"address": who, "claimed_rpt": rpt_text(amount), "tx": tx},
        [f"Claimed {rpt(amount)} to {who}, tx {tx}."],
    )


def stake_rows(chain: Any, who: str) -> list[dict[str, Any]]:
    """Per role: active, cooling (with its end), locked in tasks where the contracts say, minimum."""
    rows = []
    for index, name in enumerate(ROLES):
        info = chain.stakes.stake_info(who, index)
        row: dict[str, Any] = {
            "role": name,
            "active_rpt": rpt_text(info.active),
            "cooling_rpt": rpt_text(info.cooling),
            "cooldown_end": info.cooldown_end if info.cooling else None,
            "minimum_rpt": rpt_text(chain.stakes.min_stake(index)),
            "staked": bool(info.staked),
        }
        locked = _locked_stake(chain, who, index)
        if locked is not None:
            row["locked_rpt"] = rpt_text(locked)
        rows.append(row)
    return rows


def _locked_stake(chain: Any, who: str, index: int) -> int | None:
    """Stake locked by open tasks, where the deployed StakeManager has such a view."""
    fn = getattr(chain.stakes, "locked_stake", None)
    if fn is None:
        return None
    try:
        return int(fn(who, index))
    except Exception:  # noqa: BLE001 - an older deployment without the view
        return None


def balance(cfg: Config, address: str | None = None) -> Report:
    """RPT, ETH for gas, stake per role (active, cooling with its end, locked), claimable rewards."""
    who = node_address(cfg, address)
    chain = connect(cfg)
    tokens = chain.token.balance_of(who)
    gas = chain.eth_balance(who)
    claimable = chain.settlement.claimable(who)
    stakes = stake_rows(chain, who)
    data = {
        "address": who,
        "chain_id": chain.deployment.chain_id,
        "rpt": rpt_text(tokens),
        "eth": str(gas / 10**18),
        "eth_wei": str(gas),
        "claimable_rpt": rpt_text(claimable),
        "stakes": stakes,
    }
    lines = [
        f"account    {who} (chain {chain.deployment.chain_id})",
        f"RPT        {rpt(tokens)}",
        f"gas        {eth(gas)}",
        f"claimable  {rpt(claimable)}" + ("  (rollproof claim)" if claimable else ""),
    ]
    for row in stakes:
        if row["active_rpt"] == "0" and row["cooling_rpt"] == "0" and "locked_rpt" not in row:
            continue
        text = f"stake      {row['role']}: {row['active_rpt']} RPT active (minimum {row['minimum_rpt']} RPT)"
        if "locked_rpt" in row:
            text += f", {row['locked_rpt']} RPT locked in tasks"
        if row["cooling_rpt"] != "0":
            text += f", {row['cooling_rpt']} RPT cooling until {when(row['cooldown_end'])}"
        lines.append(text)
    if not any(r["active_rpt"] != "0" or r["cooling_rpt"] != "0" for r in stakes):
        lines.append("stake      none (rollproof stake add AMOUNT --role miner)")
    return Report(data, lines)
