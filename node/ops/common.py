"""What every operator command needs: amounts in RPT, roles by name, a chain connection that
checks the deployment file against the chain before anything is read or sent."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from node.config import Config, UserError

DECIMALS = 18
RPT = 10**DECIMALS
WEI_PER_ETH = 10**18
ROLES = ("miner", "validator", "evaluator")  # chain.clients.Role order
# Below this an account cannot pay for the few transactions a node sends per task.
MIN_GAS_WEI = 10**15  # 0.001 ETH
RPC_TIMEOUT_S = 3.0


@dataclass
class Report:
    """A command's result: `data` for --json, `lines` for people, `ok` for the exit code."""

    data: dict[str, Any]
    lines: list[str] = field(default_factory=list)
    ok: bool = True

    def json_text(self) -> str:
        return json.dumps(self.data, indent=2, sort_keys=False)


def p2p_listen_port(listen: str) -> tuple[str, int] | None:
    """(host, tcp port) of a /ip4|ip6/<host>/tcp/<port> multiaddr, else None."""
    parts = listen.strip("/").split("/")
    if len(parts) >= 4 and parts[0] in ("ip4", "ip6") and parts[2] == "tcp" and parts[3].isdigit():
        return parts[1], int(parts[3])
    return None


def rpt_text(amount: int) -> str:
    """Base units as an RPT decimal string without rounding: 1500000000000000000 -> '1.5'."""
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(int(amount)), RPT)
    tail = f"{frac:018d}".rstrip("0")
    return f"{sign}{whole}.{tail}" if tail else f"{sign}{whole}"


def rpt(amount: int) -> str:
    """Base units as text with the unit: '1.5 RPT'."""
    return f"{rpt_text(amount)} RPT"


def eth(amount_wei: int) -> str:
    whole, frac = divmod(int(amount_wei), WEI_PER_ETH)
    tail = f"{frac:018d}".rstrip("0")[:6]
    return f"{whole}.{tail} ETH" if tail else f"{whole} ETH"


def parse_rpt(text: str, what: str = "amount") -> int:
    """'100', '0.5', '100 RPT' or '100rpt' to base units; a sentence for anything else."""
    cleaned = str(text).strip()
    if cleaned.lower().endswith("rpt"):
        cleaned = cleaned[:-3].strip()
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise UserError(f"The {what} {text!r} is not an RPT amount; write e.g. 100 or 0.5.") from None
    if not value.is_finite() or value <= 0:
        raise UserError(f"The {what} must be a positive RPT amount, not {text!r}.")
    units = value * RPT
    if units != units.to_integral_value():
        raise UserError(f"The {what} {text!r} has more than {DECIMALS} decimals.")
    return int(units)


def role_index(name: str) -> int:
    low = name.strip().lower()
    if low not in ROLES:
        raise UserError(f"Unknown role {name!r}; use one of: {', '.join(ROLES)}.")
    return ROLES.index(low)


def when(timestamp: int, now: int | None = None) -> str:
    """A unix time as UTC text with how far away it is: '2026-12-02 07:00:00 UTC (in 1 h 5 min)'."""
    now = int(time.time()) if now is None else now
    text = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))
    delta = int(timestamp) - now
    return f"{text} ({_span(delta)})"


def _span(delta: int) -> str:
    sign, d = ("in ", delta) if delta >= 0 else ("", -delta)
    if d < 120:
        body = f"{d} s"
    elif d < 7200:
        body = f"{d // 60} min"
    elif d < 172800:
        body = f"{d // 3600} h {d % 3600 // 60} min"
    else:
        body = f"{d // 86400} d {d % 86400 // 3600} h"
    return f"{sign}{body}" if sign else f"{body} ago"


# ---- the chain, checked -------------------------------------------------------------------------


def rpc_chain_id(url: str) -> int:
    """eth_chainId at `url` with one short try; a sentence when nothing (or no Ethereum node) answers."""
    import httpx

    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    try:
        reply = httpx.post(url, json=body, timeout=RPC_TIMEOUT_S)
        reply.raise_for_status()
        return int(reply.json()["result"], 16)
    except httpx.HTTPError as exc:
        raise UserError(
            f"Cannot reach the chain RPC at {url} ({type(exc).__name__}); start the chain (e.g. `anvil`) or fix "
            "--rpc-url / ROLLPROOF_RPC_URL / [chain] rpc_url."
        ) from None
    except (ValueError, KeyError, TypeError):
        raise UserError(
            f"{url} answered, but not as an Ethereum JSON-RPC endpoint; check --rpc-url."
        ) from None


def load_deployment(cfg: Config) -> Any:
    from chain.deploy import Deployment
    from chain.errors import ChainError

    try:
        return Deployment.load(cfg.chain.deployment)
    except ChainError as exc:
        raise UserError(
            f"{exc} Deploy the contracts with `rollproof deploy` or point --deployment at the file it wrote."
        ) from None


def missing_contracts(w3: Any, deployment: Any) -> list[tuple[str, str]]:
    """(name, address) of every deployment address that holds no contract code on this chain."""
    return [(name, addr) for name, addr in deployment.addresses.items() if len(w3.eth.get_code(addr)) == 0]


def stale_deployment_sentence(path: str, chain_id: int, missing: list[tuple[str, str]]) -> str:
    names = ", ".join(f"{n} at {a}" for n, a in missing)
    return (
        f"The deployment file {path} is stale: chain {chain_id} has no contract code for {names} (was the "
        "chain restarted or reset?). Redeploy with `rollproof deploy --force`, or point --deployment at "
        "the file of this chain."
    )


def connect(cfg: Config, account: Any = None) -> Any:
    """A `chain.clients.Chain` for the configured RPC and deployment, after checking that the RPC
    answers, serves the deployment's chain, and holds code at every deployment address (so a stale
    file is a sentence, not a failed call deep inside web3)."""
    from chain.clients import Chain
    from chain.tx import make_web3

    deployment = load_deployment(cfg)
    chain_id = rpc_chain_id(cfg.chain.rpc_url)
    if chain_id != deployment.chain_id:
        raise UserError(
            f"The deployment file {cfg.chain.deployment} is for chain {deployment.chain_id}, but the RPC at "
            f"{cfg.chain.rpc_url} serves chain {chain_id}; use the matching --rpc-url or --deployment."
        )
    w3 = make_web3(cfg.chain.rpc_url)
    missing = missing_contracts(w3, deployment)
    if missing:
        raise UserError(stale_deployment_sentence(cfg.chain.deployment, chain_id, missing))
    chain = Chain(w3, deployment, None)
    return chain.as_account(account) if account is not None else chain


def node_address(cfg: Config, address: str | None = None) -> str:
    """The account to report on: --address, else the keystore's address (no passphrase needed)."""
    from eth_utils import is_address, to_checksum_address

    if address:
        if not is_address(address):
            raise UserError(f"{address!r} is not an Ethereum address (0x followed by 40 hex digits).")
        return to_checksum_address(address)
    if not cfg.chain.keystore:
        raise UserError(
            "No account: pass --keystore (or set ROLLPROOF_KEYSTORE or [chain] keystore), or --address."
        )
    from chain.keys import keystore_address

    return keystore_address(cfg.chain.keystore)


def unlock_account(cfg: Config) -> Any:
    """Decrypt the keystore with the configured passphrase source; sentences for every failure."""
    if not cfg.chain.keystore:
        raise UserError(
            "No keystore is configured; create one with `rollproof keys new` and pass --keystore "
            "(or set ROLLPROOF_KEYSTORE or [chain] keystore)."
        )
    from rich.console import Console

    try:
        from chain.keys import load_account, read_keystore_json, read_passphrase
    except ImportError as exc:
        raise UserError(f"The chain package is not available ({exc}); reinstall Rollproof.") from None
    read_keystore_json(cfg.chain.keystore)  # existence and shape first: no prompt for a missing file
    # Prompt only on a terminal; otherwise a missing passphrase is a sentence, not a hang or EOFError.
    prompt = "Keystore passphrase: " if sys.stdin is not None and sys.stdin.isatty() else None
    passphrase = read_passphrase(cfg.chain.passphrase_file or None, prompt=prompt)
    with Console(stderr=True, highlight=False).status("Decrypting the keystore..."):
        return load_account(cfg.chain.keystore, passphrase)


def require_gas(chain: Any, address: str, what: str) -> int:
    balance = chain.eth_balance(address)
    if balance < MIN_GAS_WEI:
        raise UserError(
            f"{address} holds {eth(balance)}, not enough gas for {what}; send it at least "
            f"{eth(MIN_GAS_WEI)} first."
        )
    return balance
