"""The store's tasks: their chain view, beacon randomness and each role's state machine (PROTOCOL.md §10)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.store.database import StoreError
from node.store.models import (
    Task,
    TaskStateRow,
    TaskTransition,
    now,
    to_hex32,
)
from node.store.sessions import StoreBase, check_uint, checksum
from node.store.states import INITIAL_STATE, Role, check_transition, is_terminal, parse_state


class TaskStore(StoreBase):
    """Tasks and the per-role state of each (transitions checked against node.store.states)."""

    # ---- tasks and their states -------------------------------------------------------------

    def upsert_task(
        self,
        task_id: int,
        *,
        proposer: str | None = None,
        env_id: bytes | str | None = None,
        env_name: str | None = None,
        params: dict[str, Any] | None = None,
        seed_round: int | None = None,
        challenge_round: int | None = None,
        posted_block: int | None = None,
        session: Session | None = None,
    ) -> Task:
        """Create the task row or fill in the given fields (fields not given are left as they are)."""
        check_uint("task_id", task_id)
        with self._use(session) as s:
            task = s.get(Task, task_id)
            if task is None:
                task = Task(task_id=task_id, params={})
                s.add(task)
            if proposer is not None:
                task.proposer = checksum(proposer)
            if env_id is not None:
                task.env_id = to_hex32(env_id)
            if env_name is not None:
                task.env_name = env_name
            if params is not None:
                task.params = {
                    k: (str(v) if isinstance(v, int) and v >= 2**53 else v) for k, v in params.items()
                }
            if seed_round is not None:
                task.seed_round = check_uint("seed_round", seed_round)
            if challenge_round is not None:
                task.challenge_round = check_uint("challenge_round", challenge_round)
            if posted_block is not None:
                task.posted_block = check_uint("posted_block", posted_block)
            s.flush()
            return task

    def get_task(self, task_id: int, *, session: Session | None = None) -> Task | None:
        with self._use(session) as s:
            return s.get(Task, task_id)

    def set_task_randomness(
        self,
        task_id: int,
        *,
        seed: bytes | str | None = None,
        challenge: bytes | str | None = None,
        session: Session | None = None,
    ) -> None:
        """Store verified beacon randomness. A different value for an already stored one is refused."""
        with self._use(session) as s:
            task = s.get(Task, task_id)
            if task is None:
                raise StoreError(f"Task {task_id} is not in the store; record the task before its beacons.")
            for attr, value in (("seed_randomness", seed), ("challenge_randomness", challenge)):
                if value is None:
                    continue
                new = to_hex32(value)
                old = getattr(task, attr)
                if old is not None and old != new:
                    raise StoreError(
                        f"Task {task_id} already has {attr} {old}, not {new}; a beacon round has one "
                        "randomness, so one of them was not verified."
                    )
                setattr(task, attr, new)

    def task_state(self, task_id: int, role: Role | str, *, session: Session | None = None) -> Any:
        """This node's state of `task_id` for `role`, or None if the role does not track it."""
        role = Role(role)
        with self._use(session) as s:
            row = s.get(TaskStateRow, (task_id, role.value))
            return None if row is None else parse_state(role, row.state)

    def track_task(
        self, task_id: int, role: Role | str, *, note: str | None = None, session: Session | None = None
    ) -> Any:
        """Start tracking `task_id` for `role` in its initial state (no-op if tracked); returns the state."""
        role = Role(role)
        with self._use(session) as s:
            if s.get(Task, task_id) is None:
                raise StoreError(f"Task {task_id} is not in the store; call upsert_task first.")
            row = s.get(TaskStateRow, (task_id, role.value))
            if row is not None:
                return parse_state(role, row.state)
            initial = INITIAL_STATE[role]
            s.add(
                TaskStateRow(
                    task_id=task_id, role=role.value, state=initial.value, note=note, updated_at=now()
                )
            )
            s.add(
                TaskTransition(
                    task_id=task_id, role=role.value, from_state=None, to_state=initial.value, note=note
                )
            )
            s.flush()
            return initial

    def transition(
        self,
        task_id: int,
        role: Role | str,
        new_state: Any,
        *,
        note: str | None = None,
        session: Session | None = None,
    ) -> Any:
        """Move the task to `new_state` if the state machine allows it, with a history row, atomically.

        Moving to the current state is a no-op (no history row). Raises InvalidTransition otherwise.
        """
        role = Role(role)
        with self._use(session) as s:
            row = s.get(TaskStateRow, (task_id, role.value))
            if row is None:
                raise StoreError(
                    f"Task {task_id} is not tracked for the {role.value} role; call track_task first."
                )
            nxt = check_transition(role, row.state, new_state)
            if nxt.value == row.state:
                return nxt
            s.add(
                TaskTransition(
                    task_id=task_id, role=role.value, from_state=row.state, to_state=nxt.value, note=note
                )
            )
            row.state = nxt.value
            row.note = note
            row.updated_at = now()
            s.flush()
            return nxt

    def tasks_in_state(
        self, role: Role | str, states: Iterable[Any], *, session: Session | None = None
    ) -> list[int]:
        """Task ids whose state for `role` is one of `states`, oldest first."""
        role = Role(role)
        wanted = [parse_state(role, st).value for st in states]
        with self._use(session) as s:
            q = (
                select(TaskStateRow.task_id)
                .where(TaskStateRow.role == role.value, TaskStateRow.state.in_(wanted))
                .order_by(TaskStateRow.task_id)
            )
            return list(s.scalars(q))

    def active_tasks(
        self, role: Role | str | None = None, *, session: Session | None = None
    ) -> list[TaskStateRow]:
        """Tracked tasks not in a terminal state (for one role, or all roles)."""
        with self._use(session) as s:
            q = select(TaskStateRow).order_by(TaskStateRow.task_id, TaskStateRow.role)
            if role is not None:
                q = q.where(TaskStateRow.role == Role(role).value)
            return [r for r in s.scalars(q) if not is_terminal(r.role, r.state)]

    def task_states(self, *, limit: int = 1000, session: Session | None = None) -> list[TaskStateRow]:
        """Every tracked (task, role) state, newest task first."""
        with self._use(session) as s:
            q = select(TaskStateRow).order_by(TaskStateRow.task_id.desc(), TaskStateRow.role).limit(limit)
            return list(s.scalars(q))

    def task_history(
        self, task_id: int, role: Role | str | None = None, *, session: Session | None = None
    ) -> list[TaskTransition]:
        with self._use(session) as s:
            q = select(TaskTransition).where(TaskTransition.task_id == task_id).order_by(TaskTransition.id)
            if role is not None:
                q = q.where(TaskTransition.role == Role(role).value)
            return list(s.scalars(q))
