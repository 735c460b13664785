"""The node context every role step receives: settings, store, chain, keys, beacon, stop flag and
p2p host, opened once per process after every check that can fail on user input.

Every transaction is journaled in the store before it is broadcast (`chain.tx.Sender` journal) and
re-broadcast after a restart before anything new is sent, so a node killed at any point resumes
from the store and never sends an action twice."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chain.clients import Chain
from chain.deploy import Deployment
from chain.errors import ChainError
from chain.keys import load_account, load_identity_secret, read_passphrase
from chain.tx import Sender, SenderConfig, SignedTx, make_web3, with_retries
from node.runtime.beacon_client import beacon_client
from node.runtime.errors import RoleError
from node.runtime.observe import event
from node.runtime.settings import RoleSettings
from node.runtime.stop import StopFlag
from node.store import Role, Store, TxStatus, open_store
from node.store.database import default_store_url
from verifier.beacon import DrandClient

log = logging.getLogger("rollproof.roles")


@dataclass
class NodeContext:
    settings: RoleSettings
    role: Role
    store: Store
    chain: Chain
    address: str
    account_key: bytes
    identity_secret: bytes
    deployment: Deployment
    beacon: DrandClient | None
    stop: StopFlag
    p2p: Any = None  # node.p2p.P2PNode when the role gossips

    def close(self) -> None:
        self.stop.uninstall()  # the process's own Ctrl-C handling again (a test's, the devnet's)
        if self.p2p is not None:
            try:
                self.p2p.stop()
            except Exception:  # noqa: BLE001 - shutting down anyway
                log.debug("p2p stop failed", exc_info=True)
        if self.beacon is not None:
            self.beacon.close()
        self.store.close()


def check_rpc(rpc_url: str) -> int:
    """The chain id at `rpc_url`, or a sentence that says what to do."""
    w3 = make_web3(rpc_url, timeout=5.0)
    from chain.tx import RetryPolicy

    try:
        return int(with_retries(lambda: w3.eth.chain_id, RetryPolicy(attempts=3), f"connecting to {rpc_url}"))
    except ChainError as exc:
        raise RoleError(
            f"The chain RPC at {rpc_url} is unreachable ({exc}); start the node (e.g. anvil) or fix --rpc-url."
        ) from None


def load_keys(settings: RoleSettings) -> tuple[Any, bytes]:
    """(account, identity secret) from the keystore; a wrong passphrase is a sentence, not a traceback."""
    from chain.keys import KeyFileError

    try:
        passphrase = read_passphrase(settings.passphrase_file, prompt=None)
        account = load_account(settings.keystore, passphrase)
        identity = load_identity_secret(settings.identity_path)
    except KeyFileError as exc:
        raise RoleError(str(exc)) from None
    return account, identity


def load_keys_identity(settings: RoleSettings) -> bytes:
    from chain.keys import KeyFileError

    try:
        return load_identity_secret(settings.identity_path)
    except KeyFileError as exc:
        raise RoleError(str(exc)) from None


def open_context(
    settings: RoleSettings, role: Role, stop: StopFlag | None = None, account: Any = None
) -> NodeContext:
    """Check the RPC, unlock the keys, open (and migrate) the store, connect the chain and beacon.

    `account` is an already decrypted LocalAccount (the CLI asks for the passphrase itself)."""
    stop = stop or StopFlag()
    deployment = _load_deployment(settings.deployment)
    chain_id = check_rpc(settings.rpc_url)
    if chain_id != deployment.chain_id:
        raise RoleError(
            f"The RPC at {settings.rpc_url} serves chain {chain_id} but the deployment {settings.deployment} "
            f"is for chain {deployment.chain_id}; point the node at the right RPC or deployment file."
        )
    warn_reorg_protection_off(settings, chain_id)
    if account is None:
        account, identity = load_keys(settings)
    else:
        identity = load_keys_identity(settings)
    store = open_store(settings.store_url or default_store_url(settings.data_dir))
    w3 = make_web3(settings.rpc_url)
    sender = Sender(w3, account, SenderConfig.default(), journal=_journal(store, account.address, chain_id))
    chain = Chain(w3, deployment, sender)
    beacon = beacon_client(settings.beacon_urls, deployment) if settings.beacon_urls else None
    ctx = NodeContext(
        settings=settings,
        role=role,
        store=store,
        chain=chain,
        address=account.address,
        account_key=bytes(account.key),
        identity_secret=identity,
        deployment=deployment,
        beacon=beacon,
        stop=stop,
    )
    resume_transactions(ctx)
    return ctx


def _load_deployment(path: Path) -> Deployment:
    try:
        return Deployment.load(path)
    except ChainError as exc:
        raise RoleError(str(exc)) from None


def _journal(store: Store, sender: str, chain_id: int) -> Callable[[SignedTx], None]:
    """Journal every signed transaction under a unique intent (its description, or description#nonce)."""

    def journal(signed: SignedTx) -> None:
        intent = signed.description[:150]
        old = store.tx_by_intent(intent)
        if old is not None and old.tx_hash != signed.tx_hash:
            intent = f"{intent}#{signed.nonce}"
        store.record_signed_tx(
            intent,
            sender=sender,
            nonce=signed.nonce,
            tx_hash=signed.tx_hash,
            raw_tx=signed.raw,
            chain_id=chain_id,
        )

    return journal


def resume_transactions(ctx: NodeContext) -> int:
    """After a restart: re-broadcast every journaled but unconfirmed transaction (same bytes, same
    nonce) and record its receipt, before anything new is sent. Returns how many were resumed."""
    sender = ctx.chain.sender
    assert sender is not None
    resumed = 0
    for row in ctx.store.unfinished_txs(ctx.address):
        signed = SignedTx(row.nonce, row.tx_hash, bytes(row.raw_tx or b""), row.intent)
        try:
            receipt = sender.rebroadcast(signed)
            ctx.store.set_tx_status(row.intent, TxStatus.MINED, block_number=receipt.block_number)
        except ChainError as exc:
            # The nonce was taken by another transaction, or it reverted: it will never be mined as is.
            status = TxStatus.REVERTED if "revert" in str(exc).lower() else TxStatus.DROPPED
            ctx.store.set_tx_status(row.intent, status, error=str(exc)[:500])
        resumed += 1
        event(log, f"resumed journaled transaction {row.intent!r}", intent=row.intent, tx=row.tx_hash)
    sender.reset_nonce()
    return resumed


def confirm_transactions(ctx: NodeContext) -> None:
    """Record receipts of journaled transactions (the Sender waited for them; the store learns it here)."""
    w3 = ctx.chain.w3
    for row in ctx.store.unfinished_txs(ctx.address):
        try:
            receipt = w3.eth.get_transaction_receipt(row.tx_hash)
        except Exception:  # noqa: BLE001 - not mined yet (TransactionNotFound) or RPC hiccup
            continue
        status = TxStatus.MINED if int(receipt["status"]) == 1 else TxStatus.REVERTED
        ctx.store.set_tx_status(row.intent, status, block_number=int(receipt["blockNumber"]))


# Anvil and Hardhat: development chains that never reorganize, where 0 confirmations is safe.
DEV_CHAIN_IDS = frozenset({31337})


def warn_reorg_protection_off(settings: RoleSettings, chain_id: int) -> bool:
    """Log a warning when events are acted on at the chain head of a chain that can reorganize."""
    if settings.confirmations > 0 or chain_id in DEV_CHAIN_IDS:
        return False
    log.warning(
        "reorg protection is OFF: events are acted on at the chain head of chain %d, where a reorg "
        "can undo them; set [chain] confirmations (--confirmations) to a few blocks.",
        chain_id,
        extra={"fields": {"protection": "confirmations"}},
    )
    return True
