"""The store's transaction journal (every signed transaction before it is sent) and event cursors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from node.store.database import StoreError
from node.store.models import (
    EventCursor,
    SentTransaction,
    now,
    to_hex32,
)
from node.store.sessions import StoreBase, check_uint, checksum

MAX_INTENT_CHARS = 200


class TxStatus:
    """Values of `transactions.status`."""

    SIGNED = "SIGNED"  # signed and stored, maybe not broadcast yet
    SENT = "SENT"  # broadcast, no receipt yet
    MINED = "MINED"  # receipt with status 1
    REVERTED = "REVERTED"  # receipt with status 0
    DROPPED = "DROPPED"  # nonce used by another transaction; will never be mined

    UNFINISHED = (SIGNED, SENT)
    ALL = (SIGNED, SENT, MINED, REVERTED, DROPPED)


class TransactionStore(StoreBase):
    """Signed transactions by intent and their status, and the chain event cursors."""

    # ---- transactions sent --------------------------------------------------------------------

    def tx_by_intent(self, intent: str, *, session: Session | None = None) -> SentTransaction | None:
        with self._use(session) as s:
            return s.get(SentTransaction, intent)

    def record_signed_tx(
        self,
        intent: str,
        *,
        sender: str,
        nonce: int,
        tx_hash: bytes | str,
        raw_tx: bytes | None = None,
        to: str | None = None,
        chain_id: int | None = None,
        session: Session | None = None,
    ) -> tuple[SentTransaction, bool]:
        """Record a signed transaction under its intent before broadcasting it.

        Returns (row, created). When the intent is already recorded, the stored row is returned with
        created=False and nothing changes: the caller must rebroadcast or wait for THAT transaction,
        never send a new one for the same intent.
        """
        if not intent or len(intent) > MAX_INTENT_CHARS:
            raise ValueError(
                f"A transaction intent must be 1..{MAX_INTENT_CHARS} characters, got {len(intent)}."
            )
        check_uint("nonce", nonce)
        with self._use(session) as s:
            old = s.get(SentTransaction, intent)
            if old is not None:
                return old, False
            row = SentTransaction(
                intent=intent,
                sender=checksum(sender),
                nonce=nonce,
                tx_hash=to_hex32(tx_hash),
                raw_tx=raw_tx,
                to=None if to is None else checksum(to),
                chain_id=chain_id,
                status=TxStatus.SIGNED,
            )
            s.add(row)
            try:
                s.flush()
            except IntegrityError:
                # Another writer recorded the same intent first (PostgreSQL); theirs wins. The
                # enclosing transaction is rolled back as the error leaves it.
                raise StoreError(
                    f"Transaction intent {intent!r} was recorded concurrently; retry to read it."
                ) from None
            return row, True

    def set_tx_status(
        self,
        intent: str,
        status: str,
        *,
        block_number: int | None = None,
        error: str | None = None,
        session: Session | None = None,
    ) -> SentTransaction:
        if status not in TxStatus.ALL:
            raise ValueError(f"{status!r} is not a transaction status; use one of {', '.join(TxStatus.ALL)}.")
        with self._use(session) as s:
            row = s.get(SentTransaction, intent)
            if row is None:
                raise StoreError(f"No transaction recorded for intent {intent!r}.")
            row.status = status
            if block_number is not None:
                row.block_number = block_number
            row.error = error
            row.updated_at = now()
            return row

    def unfinished_txs(
        self, sender: str | None = None, *, session: Session | None = None
    ) -> list[SentTransaction]:
        """Signed or sent transactions without a final receipt, lowest nonce first (to resume after a crash)."""
        with self._use(session) as s:
            q = select(SentTransaction).where(SentTransaction.status.in_(TxStatus.UNFINISHED))
            if sender is not None:
                q = q.where(SentTransaction.sender == checksum(sender))
            return list(s.scalars(q.order_by(SentTransaction.nonce)))

    def transactions(self, *, limit: int = 1000, session: Session | None = None) -> list[SentTransaction]:
        with self._use(session) as s:
            q = select(SentTransaction).order_by(SentTransaction.created_at.desc()).limit(limit)
            return list(s.scalars(q))

    # ---- event cursor (chain.events.CursorStore) --------------------------------------------

    def get_cursor(self, name: str = "default", *, session: Session | None = None) -> int | None:
        """The last fully processed block of follower `name`, or None if it never ran."""
        with self._use(session) as s:
            row = s.get(EventCursor, name)
            return None if row is None else row.block

    def set_cursor(self, name: str, block: int, *, session: Session | None = None) -> None:
        """Record that every event up to and including `block` was processed by follower `name`."""
        check_uint("block", block)
        with self._use(session) as s:
            row = s.get(EventCursor, name)
            if row is None:
                s.add(EventCursor(name=name, block=block, updated_at=now()))
            else:
                row.block = block
                row.updated_at = now()

    @property
    def cursors(self) -> StoreCursors:
        """The store as a `chain.events.CursorStore` (get(key) / set(key, block))."""
        return StoreCursors(self)

    def tx_journal(self, sender: str, chain_id: int | None = None) -> Callable[[Any], None]:
        """A `chain.tx.Sender` journal: records each SignedTx under its description as the intent.

        Give every transaction a unique description such as "join:7" and check `tx_by_intent`
        before sending: if a row exists, rebroadcast its `raw_tx` instead of sending anew.
        """

        def journal(signed: Any) -> None:
            self.record_signed_tx(
                str(signed.description),
                sender=sender,
                nonce=int(signed.nonce),
                tx_hash=signed.tx_hash,
                raw_tx=bytes(signed.raw),
                chain_id=chain_id,
            )

        return journal


@dataclass(frozen=True)
class StoreCursors:
    """Event cursors kept in the store; implements chain.events.CursorStore."""

    store: TransactionStore

    def get(self, key: str) -> int | None:
        return self.store.get_cursor(key)

    def set(self, key: str, block: int) -> None:
        self.store.set_cursor(key, block)
