"""Sending transactions: one `Sender` per account.

Rules this module keeps:
- Nonces: the first send (and any send after an unclear failure) reads the node's *pending*
  count; after that, nonces are reserved locally under a lock, so concurrent callers in one
  process never collide, and a restarted process resumes from the node's pending count.
- A transaction is signed exactly once. Retries after RPC/connection errors re-broadcast the
  same signed bytes (same nonce, same hash), so a retry can never become a second transfer.
  "already known" / "nonce too low" answers to a retry are resolved by looking the hash up.
- Reverts are never retried: gas estimation runs first (a revert there costs no nonce), and
  a mined failure is replayed with eth_call to decode its custom error into a sentence.
- EIP-1559 fees from the node: maxFee = 2 x baseFee + tip, tip = eth_maxPriorityFeePerGas.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import TransactionNotFound, Web3RPCError

from chain.errors import ChainError, ChainRevert, revert_from_exception

# Errors that mean "the RPC did not answer"; the request may or may not have reached the node.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    ConnectionError,
    TimeoutError,
)


class RpcUnavailable(ChainError):
    """The RPC endpoint did not answer after every retry."""


class NonceTooLow(ChainError):
    """The node refused a transaction because its nonce is already used (by another sender)."""


class TxTimeout(ChainError):
    """A transaction was sent but no receipt arrived in time; it may still be mined."""

    def __init__(self, message: str, tx_hash: str) -> None:
        super().__init__(message)
        self.tx_hash = tx_hash


@dataclass
class RetryPolicy:
    attempts: int = 8
    first_delay: float = 0.2
    max_delay: float = 5.0

    def delays(self) -> list[float]:
        return [min(self.first_delay * 2**i, self.max_delay) for i in range(self.attempts - 1)]


@dataclass
class SenderConfig:
    retry: RetryPolicy
    receipt_timeout: float = 120.0
    poll_interval: float = 0.1
    gas_multiplier: float = 1.25  # estimation is exact for the state it saw; state may move a little
    gas_margin: int = 20_000

    @classmethod
    def default(cls) -> SenderConfig:
        return cls(retry=RetryPolicy())


@dataclass(frozen=True)
class SignedTx:
    """What a node may journal before broadcasting, to re-broadcast the same bytes after a restart."""

    nonce: int
    tx_hash: str
    raw: bytes
    description: str


@dataclass(frozen=True)
class Receipt:
    tx_hash: str
    block_number: int
    status: int
    gas_used: int
    nonce: int
    logs: tuple[dict[str, Any], ...]


def plain_log(log: Any) -> dict[str, Any]:
    """A log entry with plain Python values (bytes instead of HexBytes, dict instead of AttributeDict)."""
    out: dict[str, Any] = {}
    for key, value in dict(log).items():
        if isinstance(value, bytes):
            out[key] = bytes(value)
        elif isinstance(value, list):
            out[key] = [bytes(v) if isinstance(v, bytes) else v for v in value]
        else:
            out[key] = value
    return out


def make_web3(rpc_url: str, timeout: float = 10.0) -> Web3:
    """A Web3 over HTTP without web3's own retries: Sender and LogFollower retry themselves."""
    provider = Web3.HTTPProvider(
        rpc_url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None
    )
    return Web3(provider)


def with_retries(fn: Callable[[], Any], policy: RetryPolicy, what: str) -> Any:
    """Call `fn`, retrying with exponential backoff on connection errors only."""
    delays = policy.delays()
    for attempt in range(len(delays) + 1):
        try:
            return fn()
        except CONNECTION_ERRORS as exc:
            if attempt == len(delays):
                raise RpcUnavailable(
                    f"the RPC endpoint did not answer while {what} ({policy.attempts} attempts): {type(exc).__name__}."
                ) from exc
            time.sleep(delays[attempt])
    raise AssertionError("unreachable")


def _is_known_tx_answer(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(m in text for m in ("already known", "nonce too low", "known transaction", "already imported"))


class Sender:
    """Signs and sends the transactions of one account. Thread-safe."""

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        config: SenderConfig | None = None,
        journal: Callable[[SignedTx], None] | None = None,
    ) -> None:
        self.w3 = w3
        self.account = account
        self.address = account.address
        self.config = config or SenderConfig.default()
        self.journal = journal
        self._lock = threading.Lock()
        self._next_nonce: int | None = None
        self._chain_id: int | None = None

    # ---- reads with retries ------------------------------------------------------------
    def call_rpc(self, fn: Callable[[], Any], what: str) -> Any:
        return with_retries(fn, self.config.retry, what)

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = self.call_rpc(lambda: self.w3.eth.chain_id, "reading the chain id")
        return self._chain_id

    def pending_nonce(self) -> int:
        return self.call_rpc(
            lambda: self.w3.eth.get_transaction_count(self.address, "pending"), "reading the account nonce"
        )

    def fees(self) -> tuple[int, int]:
        """(maxFeePerGas, maxPriorityFeePerGas) from the node."""
        block = self.call_rpc(lambda: self.w3.eth.get_block("latest"), "reading the latest block")
        tip = self.call_rpc(lambda: self.w3.eth.max_priority_fee, "reading the priority fee")
        base = int(block.get("baseFeePerGas", 0))
        return 2 * base + tip, tip

    # ---- sending -----------------------------------------------------------------------
    def estimate_gas(self, tx: dict[str, Any], ctx: dict[str, Any] | None = None) -> int:
        try:
            gas = self.call_rpc(lambda: self.w3.eth.estimate_gas(tx), "estimating gas")
        except RpcUnavailable:
            raise
        except Exception as exc:
            revert = revert_from_exception(exc, ctx)
            if revert is not None:
                raise revert from None
            raise self._refusal(exc, (ctx or {}).get("action", "the transaction")) from None
        return int(gas * self.config.gas_multiplier) + self.config.gas_margin

    def _refusal(self, exc: BaseException, what: str) -> ChainError:
        """A node's refusal (not a revert) as a sentence that says what to do."""
        text = str(exc)
        if "insufficient funds" in text.lower():
            balance = self.call_rpc(lambda: self.w3.eth.get_balance(self.address), "reading the balance")
            return ChainError(
                f"{self.address} cannot pay the gas for {what}: it holds {balance / 1e18:.6f} of the chain's "
                "native currency; fund it first."
            )
        message = exc.args[0].get("message", text) if exc.args and isinstance(exc.args[0], dict) else text
        return ChainError(f"the node refused {what}: {message}.")

    def send(
        self,
        to: str | None,
        data: bytes | str = b"",
        value: int = 0,
        gas: int | None = None,
        description: str = "transaction",
        ctx: dict[str, Any] | None = None,
        wait: bool = True,
    ) -> Receipt | SignedTx:
        """Estimate, sign once, broadcast (retrying the same bytes), and wait for the receipt.

        Raises ChainRevert (decoded, never retried), RpcUnavailable or TxTimeout.
        """
        ctx = {"action": description, **(ctx or {})}
        base: dict[str, Any] = {"from": self.address, "value": value, "data": HexBytes(data)}
        if to is not None:
            base["to"] = to_checksum_address(to)
        if gas is None:
            gas = self.estimate_gas(base, ctx)
        max_fee, tip = self.fees()
        with self._lock:
            # Broadcast under the lock: nonces reach the node in order and a failed broadcast
            # cannot leave a gap behind later nonces.
            for attempt in range(3):
                if self._next_nonce is None:
                    self._next_nonce = self.pending_nonce()
                signed = self._sign(
                    {**base, "gas": gas, "maxFeePerGas": max_fee, "maxPriorityFeePerGas": tip}, description
                )
                try:
                    self.broadcast(signed)
                except NonceTooLow:
                    # Another sender of this account (a previous run) used the nonce; this
                    # transaction was refused, so signing it again with a fresh nonce cannot
                    # double-send.
                    self._next_nonce = None
                    if attempt == 2:
                        raise
                    continue
                except BaseException:
                    # Unknown whether the node has it: re-read the pending nonce next time.
                    self._next_nonce = None
                    raise
                self._next_nonce = signed.nonce + 1
                break
        if not wait:
            return signed
        return self.wait(signed, ctx)

    def _sign(self, tx: dict[str, Any], description: str) -> SignedTx:
        assert self._next_nonce is not None
        full = {**tx, "nonce": self._next_nonce, "chainId": self.chain_id, "type": 2}
        signed_raw = self.account.sign_transaction(full)
        signed = SignedTx(
            self._next_nonce,
            "0x" + bytes(signed_raw.hash).hex(),
            bytes(signed_raw.raw_transaction),
            description,
        )
        if self.journal is not None:
            self.journal(signed)
        return signed

    def broadcast(self, signed: SignedTx) -> None:
        """Send the signed bytes; on retries an "already known" answer means it arrived."""
        delays = self.config.retry.delays()
        for attempt in range(len(delays) + 1):
            try:
                self.w3.eth.send_raw_transaction(signed.raw)
                return
            except CONNECTION_ERRORS as exc:
                if attempt == len(delays):
                    raise RpcUnavailable(
                        f"the RPC endpoint did not answer while sending {signed.description} "
                        f"(nonce {signed.nonce}, hash {signed.tx_hash}); it may still arrive."
                    ) from exc
                time.sleep(delays[attempt])
            except Web3RPCError as exc:
                if (attempt > 0 or _is_known_tx_answer(exc)) and self.is_known(signed.tx_hash):
                    return  # an earlier attempt reached the node; the response was lost
                if "nonce too low" in str(exc).lower():
                    raise NonceTooLow(f"nonce {signed.nonce} of {self.address} is already used.") from exc
                revert = revert_from_exception(exc)
                if revert is not None:
                    raise revert from None
                raise self._refusal(exc, signed.description) from exc

    def is_known(self, tx_hash: str) -> bool:
        try:
            self.call_rpc(lambda: self.w3.eth.get_transaction(tx_hash), "looking up a transaction")
            return True
        except TransactionNotFound:
            return False

    def rebroadcast(self, signed: SignedTx, ctx: dict[str, Any] | None = None) -> Receipt:
        """After a restart: re-send journaled bytes (harmless if already mined) and wait."""
        receipt = self._receipt_or_none(signed.tx_hash)
        if receipt is None:
            self.broadcast(signed)
        return self.wait(signed, ctx)

    def _receipt_or_none(self, tx_hash: str) -> dict[str, Any] | None:
        try:
            return self.call_rpc(lambda: self.w3.eth.get_transaction_receipt(tx_hash), "reading a receipt")
        except TransactionNotFound:
            return None

    def wait(
        self, signed: SignedTx, ctx: dict[str, Any] | None = None, timeout: float | None = None
    ) -> Receipt:
        """Wait for the receipt; a failed transaction is replayed to decode its revert."""
        timeout = self.config.receipt_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            raw = self._receipt_or_none(signed.tx_hash)
            if raw is not None:
                break
            if time.monotonic() > deadline:
                raise TxTimeout(
                    f"{signed.description} (hash {signed.tx_hash}) was sent but not mined within {timeout:.0f} s.",
                    signed.tx_hash,
                )
            time.sleep(self.config.poll_interval)
        receipt = Receipt(
            tx_hash=signed.tx_hash,
            block_number=int(raw["blockNumber"]),
            status=int(raw["status"]),
            gas_used=int(raw["gasUsed"]),
            nonce=signed.nonce,
            logs=tuple(plain_log(log) for log in raw["logs"]),
        )
        if receipt.status != 1:
            raise self._explain_failure(signed, receipt, ctx)
        return receipt

    def _explain_failure(self, signed: SignedTx, receipt: Receipt, ctx: dict[str, Any] | None) -> ChainRevert:
        tx = self.call_rpc(lambda: self.w3.eth.get_transaction(signed.tx_hash), "reading a transaction")
        call = {
            "from": tx["from"],
            "to": tx["to"],
            "data": tx["input"],
            "value": tx["value"],
            "gas": tx["gas"],
        }
        try:
            self.w3.eth.call(call, receipt.block_number - 1)
        except Exception as exc:
            revert = revert_from_exception(exc, ctx)
            if revert is not None:
                return revert
        return ChainRevert(
            f"{signed.description} reverted in block {receipt.block_number} (hash {signed.tx_hash}); "
            f"it may have run out of gas ({receipt.gas_used} used)."
        )

    def reset_nonce(self) -> None:
        """Forget the local nonce; the next send reads the node's pending count."""
        with self._lock:
            self._next_nonce = None


__all__ = [
    "CONNECTION_ERRORS",
    "Receipt",
    "RetryPolicy",
    "RpcUnavailable",
    "Sender",
    "SenderConfig",
    "SignedTx",
    "TxTimeout",
    "make_web3",
    "with_retries",
]
