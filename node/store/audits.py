"""The store's record of a task's settlement: joins and commitments, audits, verdicts, outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.store.database import StoreError
from node.store.models import (
    Audit,
    Commitment,
    Outcome,
    Task,
    VerdictRow,
    now,
    to_hex32,
)
from node.store.sessions import StoreBase, check_uint, checksum
from node.store.states import Role


class AuditStore(StoreBase):
    """What each miner committed, what the audits found, the verdict sent and the outcome paid."""

    # ---- commitments --------------------------------------------------------------------------

    def record_join(
        self,
        task_id: int,
        miner: str,
        adapter_hash: bytes | str,
        *,
        block: int | None = None,
        session: Session | None = None,
    ) -> None:
        with self._use(session) as s:
            row = self._commitment_row(s, task_id, miner)
            row.adapter_hash = to_hex32(adapter_hash)
            row.joined_block = block

    def record_commitment(
        self,
        task_id: int,
        miner: str,
        root: bytes | str,
        count: int,
        *,
        block: int | None = None,
        tx_hash: bytes | str | None = None,
        session: Session | None = None,
    ) -> None:
        with self._use(session) as s:
            row = self._commitment_row(s, task_id, miner)
            new_root = to_hex32(root)
            if row.root is not None and row.root != new_root:
                raise StoreError(
                    f"Task {task_id} already has root {row.root} for {miner}; a miner commits once."
                )
            row.root = new_root
            row.count = check_uint("count", count, 32)
            row.committed_block = block
            if tx_hash is not None:
                row.tx_hash = to_hex32(tx_hash)

    def _commitment_row(self, s: Session, task_id: int, miner: str) -> Commitment:
        miner = checksum(miner)
        if s.get(Task, task_id) is None:
            raise StoreError(f"Task {task_id} is not in the store; record the task before its commitments.")
        row = s.get(Commitment, (task_id, miner))
        if row is None:
            row = Commitment(task_id=task_id, miner=miner)
            s.add(row)
        return row

    def commitments(self, task_id: int, *, session: Session | None = None) -> list[Commitment]:
        with self._use(session) as s:
            q = select(Commitment).where(Commitment.task_id == task_id).order_by(Commitment.miner)
            return list(s.scalars(q))

    # ---- audits and verdicts ------------------------------------------------------------------

    def record_audit(
        self,
        task_id: int,
        miner: str,
        problem: int,
        index: int,
        *,
        passed: bool,
        reason: str | None = None,
        verified_reward: int | None = None,
        positions: Sequence[int] = (),
        details: dict[str, Any] | None = None,
        session: Session | None = None,
    ) -> None:
        """Store (or replace, on a re-run after a crash) the audit of one sampled rollout."""
        miner = checksum(miner)
        with self._use(session) as s:
            row = s.get(Audit, (task_id, miner, problem, index))
            if row is None:
                row = Audit(task_id=task_id, miner=miner, problem=problem, index=index)
                s.add(row)
            row.passed = bool(passed)
            row.reason = reason
            row.verified_reward = verified_reward
            row.positions = [int(p) for p in positions]
            row.details = dict(details or {})
            row.at = now()

    def audits(
        self, task_id: int, miner: str | None = None, *, session: Session | None = None
    ) -> list[Audit]:
        with self._use(session) as s:
            q = select(Audit).where(Audit.task_id == task_id)
            if miner is not None:
                q = q.where(Audit.miner == checksum(miner))
            return list(s.scalars(q.order_by(Audit.miner, Audit.problem, Audit.index)))

    def save_verdict(
        self,
        task_id: int,
        verdicts: list[dict[str, Any]],
        salt: bytes | str,
        verdict_hash: bytes | str,
        *,
        session: Session | None = None,
    ) -> VerdictRow:
        """Persist the verdict set and salt BEFORE sending `commitVerdict`; returns the stored row.

        If a verdict is already stored for the task, it is returned unchanged: the validator must
        reveal exactly what it committed, so a restarted node reuses the first salt.
        """
        with self._use(session) as s:
            row = s.get(VerdictRow, task_id)
            if row is not None:
                return row
            if s.get(Task, task_id) is None:
                raise StoreError(f"Task {task_id} is not in the store; record the task before its verdict.")
            row = VerdictRow(
                task_id=task_id,
                verdicts=list(verdicts),
                salt=to_hex32(salt),
                verdict_hash=to_hex32(verdict_hash),
            )
            s.add(row)
            s.flush()
            return row

    def verdict(self, task_id: int, *, session: Session | None = None) -> VerdictRow | None:
        with self._use(session) as s:
            return s.get(VerdictRow, task_id)

    def set_verdict_tx(
        self,
        task_id: int,
        *,
        commit_tx: bytes | str | None = None,
        reveal_tx: bytes | str | None = None,
        session: Session | None = None,
    ) -> None:
        with self._use(session) as s:
            row = s.get(VerdictRow, task_id)
            if row is None:
                raise StoreError(f"No verdict stored for task {task_id}; save it before sending it.")
            if commit_tx is not None:
                row.commit_tx = to_hex32(commit_tx)
            if reveal_tx is not None:
                row.reveal_tx = to_hex32(reveal_tx)

    # ---- outcomes -----------------------------------------------------------------------------

    def record_outcome(
        self,
        task_id: int,
        address: str,
        role: Role | str,
        outcome: str,
        *,
        score: int | None = None,
        paid: int = 0,
        slashed: int = 0,
        block: int | None = None,
        session: Session | None = None,
    ) -> None:
        """Store a finalized task's result for an address (idempotent per task, address and role)."""
        role = Role(role)
        address = checksum(address)
        with self._use(session) as s:
            if s.get(Task, task_id) is None:
                raise StoreError(f"Task {task_id} is not in the store; record the task before its outcome.")
            row = s.get(Outcome, (task_id, address, role.value))
            if row is None:
                row = Outcome(task_id=task_id, address=address, role=role.value)
                s.add(row)
            row.outcome = outcome
            row.score = score
            row.paid = paid
            row.slashed = slashed
            row.block_number = block

    def outcomes(self, address: str | None = None, *, session: Session | None = None) -> list[Outcome]:
        with self._use(session) as s:
            q = select(Outcome).order_by(Outcome.task_id)
            if address is not None:
                q = q.where(Outcome.address == checksum(address))
            return list(s.scalars(q))
