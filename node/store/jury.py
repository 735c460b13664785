"""The store's record of jury duty: each ruling a juror commits, with its salt, before it is sent."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.store.models import JuryRulingRow, now, to_hex32
from node.store.sessions import StoreBase, check_uint, checksum

JURY_STAGES = ("committed", "revealed", "done")
MAX_SCORE = 1_000_000


class JuryStore(StoreBase):
    """Rulings this validator committed on disputes (PROTOCOL.md §2.10), so a restart can reveal them."""

    def save_jury_ruling(
        self,
        task_id: int,
        miner: str,
        overturn: bool,
        score: int,
        salt: bytes | str,
        *,
        session: Session | None = None,
    ) -> JuryRulingRow:
        """Persist the ruling and salt BEFORE sending `commitRuling`; returns the stored row.

        A ruling already stored for the dispute is returned unchanged: the juror must reveal exactly what it
        committed, so a restarted node reuses the first salt and ruling.
        """
        check_uint("task_id", task_id)
        if not isinstance(overturn, bool):
            raise ValueError(f"overturn must be a bool, got {overturn!r}.")
        if check_uint("score", score) > MAX_SCORE:
            raise ValueError(f"score must be at most {MAX_SCORE}, got {score}.")
        miner = checksum(miner)
        with self._use(session) as s:
            row = s.get(JuryRulingRow, (task_id, miner))
            if row is not None:
                return row
            row = JuryRulingRow(
                task_id=task_id,
                miner=miner,
                overturn=overturn,
                score=score,
                salt=to_hex32(salt),
                stage="committed",
            )
            s.add(row)
            s.flush()
            return row

    def jury_ruling(
        self, task_id: int, miner: str, *, session: Session | None = None
    ) -> JuryRulingRow | None:
        with self._use(session) as s:
            return s.get(JuryRulingRow, (task_id, checksum(miner)))

    def set_jury_stage(self, task_id: int, miner: str, stage: str, *, session: Session | None = None) -> None:
        """Advance a stored ruling's jury duty (committed -> revealed -> done)."""
        if stage not in JURY_STAGES:
            raise ValueError(f"stage must be one of {', '.join(JURY_STAGES)}, got {stage!r}.")
        with self._use(session) as s:
            row = s.get(JuryRulingRow, (task_id, checksum(miner)))
            if row is None:
                raise ValueError(f"No ruling stored for {miner}'s dispute in task {task_id}; save it first.")
            row.stage = stage
            row.updated_at = now()

    def jury_rulings(
        self, *, unfinished: bool = False, session: Session | None = None
    ) -> list[JuryRulingRow]:
        """Every stored ruling (only those whose duty is not done, with `unfinished`), by task and miner."""
        with self._use(session) as s:
            q = select(JuryRulingRow)
            if unfinished:
                q = q.where(JuryRulingRow.stage != "done")
            return list(s.scalars(q.order_by(JuryRulingRow.task_id, JuryRulingRow.miner)))
