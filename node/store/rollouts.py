"""The store's rollouts: a miner's own (with their Merkle leaves) and those received by gossip."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from node.store.database import StoreError
from node.store.models import (
    OwnRollout,
    ReceivedRollout,
    to_hex32,
)
from node.store.sessions import StoreBase, check_uint, checksum

MAX_PAYLOAD_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class RolloutRecord:
    """One own rollout as a miner stores it (problem p, rollout index g)."""

    problem: int
    index: int
    tokens: Sequence[int]
    logprobs: Sequence[float]
    claimed_reward: int
    leaf: bytes | str
    completion: str = ""
    payload: bytes | None = None


class RolloutStore(StoreBase):
    """Own and received rollouts, their re-scored rewards and what went into training."""

    # ---- own rollouts -----------------------------------------------------------------------

    def add_own_rollouts(
        self, task_id: int, rollouts: Iterable[RolloutRecord], *, session: Session | None = None
    ) -> int:
        """Store generated rollouts; returns how many were new.

        A rollout already stored with the same leaf is skipped (a restarted miner regenerates the
        same thing); one with a different leaf is refused, since a committed root may depend on it.
        """
        added = 0
        with self._use(session) as s:
            # One query for what is stored already, instead of one lookup per rollout.
            stored = {
                (row.problem, row.index): row.leaf
                for row in s.execute(
                    select(OwnRollout.problem, OwnRollout.index, OwnRollout.leaf).where(
                        OwnRollout.task_id == task_id
                    )
                )
            }
            for r in rollouts:
                check_uint("problem", r.problem, 32)
                check_uint("index", r.index, 32)
                if len(r.tokens) != len(r.logprobs):
                    raise ValueError(
                        f"Rollout ({r.problem}, {r.index}) has {len(r.tokens)} tokens but {len(r.logprobs)} logprobs."
                    )
                if r.payload is not None and len(r.payload) > MAX_PAYLOAD_BYTES:
                    raise ValueError(
                        f"Rollout ({r.problem}, {r.index}) payload exceeds {MAX_PAYLOAD_BYTES} bytes."
                    )
                leaf = to_hex32(r.leaf)
                old_leaf = stored.get((r.problem, r.index))
                if old_leaf is not None:
                    if old_leaf != leaf:
                        raise StoreError(
                            f"Rollout ({r.problem}, {r.index}) of task {task_id} is already stored with leaf "
                            f"{old_leaf}, not {leaf}; refusing to replace it because a committed root may use it."
                        )
                    continue
                stored[(r.problem, r.index)] = leaf
                s.add(
                    OwnRollout(
                        task_id=task_id,
                        problem=r.problem,
                        index=r.index,
                        tokens=[int(t) for t in r.tokens],
                        logprobs=[float(x) for x in r.logprobs],
                        completion=r.completion,
                        claimed_reward=int(r.claimed_reward),
                        leaf=leaf,
                        payload=r.payload,
                    )
                )
                added += 1
            s.flush()
        return added

    def own_rollouts(self, task_id: int, *, session: Session | None = None) -> list[OwnRollout]:
        with self._use(session) as s:
            q = (
                select(OwnRollout)
                .where(OwnRollout.task_id == task_id)
                .order_by(OwnRollout.problem, OwnRollout.index)
            )
            return list(s.scalars(q))

    def own_rollout(
        self, task_id: int, problem: int, index: int, *, session: Session | None = None
    ) -> OwnRollout | None:
        with self._use(session) as s:
            return s.get(OwnRollout, (task_id, problem, index))

    def count_own_rollouts(self, task_id: int, *, session: Session | None = None) -> int:
        with self._use(session) as s:
            return (
                s.scalar(select(func.count()).select_from(OwnRollout).where(OwnRollout.task_id == task_id))
                or 0
            )

    # ---- received rollouts ------------------------------------------------------------------

    def add_received_rollout(
        self,
        task_id: int,
        miner: str,
        problem: int,
        index: int,
        payload: bytes,
        *,
        leaf: bytes | str | None = None,
        sender_peer: str | None = None,
        session: Session | None = None,
    ) -> bool:
        """Store a gossiped rollout; False if one for (task, miner, p, g) is already stored (first wins)."""
        check_uint("task_id", task_id)
        check_uint("problem", problem, 32)
        check_uint("index", index, 32)
        if not isinstance(payload, bytes | bytearray) or len(payload) > MAX_PAYLOAD_BYTES:
            raise ValueError(
                f"A received rollout payload must be bytes of at most {MAX_PAYLOAD_BYTES} bytes."
            )
        miner = checksum(miner)
        with self._use(session) as s:
            if s.get(ReceivedRollout, (task_id, miner, problem, index)) is not None:
                return False
            s.add(
                ReceivedRollout(
                    task_id=task_id,
                    miner=miner,
                    problem=problem,
                    index=index,
                    payload=bytes(payload),
                    leaf=None if leaf is None else to_hex32(leaf),
                    sender_peer=sender_peer,
                )
            )
            s.flush()
            return True

    def received_rollouts(
        self, task_id: int, miner: str | None = None, *, session: Session | None = None
    ) -> list[ReceivedRollout]:
        with self._use(session) as s:
            q = select(ReceivedRollout).where(ReceivedRollout.task_id == task_id)
            if miner is not None:
                q = q.where(ReceivedRollout.miner == checksum(miner))
            q = q.order_by(ReceivedRollout.miner, ReceivedRollout.problem, ReceivedRollout.index)
            return list(s.scalars(q))

    def set_received_reward(
        self,
        task_id: int,
        miner: str,
        problem: int,
        index: int,
        reward: int,
        *,
        session: Session | None = None,
    ) -> None:
        with self._use(session) as s:
            row = s.get(ReceivedRollout, (task_id, checksum(miner), problem, index))
            if row is None:
                raise StoreError(f"No received rollout ({problem}, {index}) of {miner} for task {task_id}.")
            row.verified_reward = int(reward)

    def mark_used_for_training(
        self, keys: Iterable[tuple[int, str, int, int]], *, session: Session | None = None
    ) -> None:
        with self._use(session) as s:
            for task_id, miner, problem, index in keys:
                row = s.get(ReceivedRollout, (task_id, checksum(miner), problem, index))
                if row is not None:
                    row.used_for_training = True
