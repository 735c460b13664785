"""The node store: open (and migrate) a database, and the typed operations the roles use.

Every method runs in its own database transaction unless it is given `session=`, in which case
it joins the caller's transaction. Roles combine a state transition with the data it depends on
(e.g. all rollouts + GENERATED) in one `with store.transaction() as s:` block, so a crash at any
point leaves either both or neither.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, IntegrityError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from node.store.models import (
    Adapter,
    Audit,
    Commitment,
    EventCursor,
    Outcome,
    OwnRollout,
    Peer,
    ReceivedRollout,
    SentTransaction,
    Task,
    TaskStateRow,
    TaskTransition,
    VerdictRow,
    now,
    to_hex32,
)
from node.store.states import INITIAL_STATE, Role, check_transition, is_terminal, parse_state

log = logging.getLogger(__name__)

# The Alembic environment lives at the top of the source tree (installed editable).
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"  # shipped in the wheel (package data)
SQLITE_BUSY_TIMEOUT_MS = 15_000
MAX_PAYLOAD_BYTES = 4 * 1024 * 1024
MAX_INTENT_CHARS = 200


class StoreError(Exception):
    """A store problem explained as a sentence that says what to do."""


class TxStatus:
    """Values of `transactions.status`."""

    SIGNED = "SIGNED"  # signed and stored, maybe not broadcast yet
    SENT = "SENT"  # broadcast, no receipt yet
    MINED = "MINED"  # receipt with status 1
    REVERTED = "REVERTED"  # receipt with status 0
    DROPPED = "DROPPED"  # nonce used by another transaction; will never be mined

    UNFINISHED = (SIGNED, SENT)
    ALL = (SIGNED, SENT, MINED, REVERTED, DROPPED)


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


def default_store_url(data_dir: Path | str) -> str:
    """The SQLite database under a node's data dir."""
    return f"sqlite:///{Path(data_dir).expanduser().resolve() / 'node.db'}"


def redact_url(url: str | URL) -> str:
    """The URL with any password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # isolation_level None lets us issue BEGIN IMMEDIATE ourselves (below): every transaction takes
    # the write lock up front, so read-then-write steps of concurrent writers never interleave.
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    # FULL: a committed salt or signed transaction survives power loss, not only a process kill.
    cur.execute("PRAGMA synchronous=FULL")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


# Any 64-bit number, the same in every process of one store: the key of its write lock.
POSTGRES_STORE_LOCK = 0x526F6C6C70726F66  # "Rollprof"


def _postgres_begin(conn: Any) -> None:
    # The same rule as SQLite's BEGIN IMMEDIATE: each transaction takes the store's write lock up
    # front (released at commit or rollback), so the read-then-write steps of two writers (threads,
    # or a restarted node overlapping its predecessor) never interleave under READ COMMITTED.
    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({POSTGRES_STORE_LOCK})")


def create_store_engine(url: str) -> Engine:
    """An engine for `url` with SQLite set up for WAL, foreign keys and a busy timeout."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(
            f"The store URL {url!r} is not a database URL; use sqlite:///path/to/node.db "
            "or postgresql+psycopg://user:password@host/dbname."
        ) from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise StoreError(
            f"The store URL uses {backend!r}; Rollproof supports sqlite and postgresql store URLs."
        )
    if backend == "sqlite":
        db = parsed.database
        if not db or db == ":memory:":
            raise StoreError(
                "An in-memory SQLite store would lose everything on restart; give a file, "
                "e.g. sqlite:///data/node.db."
            )
        Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(parsed)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise StoreError(
            f"The store URL {redact_url(parsed)} needs a database driver that is not installed "
            f"({exc}); for PostgreSQL install psycopg (`pip install 'psycopg[binary]'`)."
        ) from None
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        event.listen(engine, "begin", _postgres_begin)
    return engine


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database behind `engine` to `revision` with the Alembic migrations."""
    from alembic import command
    from alembic.config import Config
    from alembic.util.exc import CommandError

    if not (MIGRATIONS_DIR / "env.py").is_file():
        raise StoreError(
            f"The store migrations are missing ({MIGRATIONS_DIR}); reinstall Rollproof from source."
        )
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        try:
            command.upgrade(cfg, revision)
        except CommandError as exc:
            raise StoreError(
                f"The store at {redact_url(engine.url)} has a schema this Rollproof does not know ({exc}); "
                "it was probably written by a newer version: upgrade Rollproof or use another data dir."
            ) from None


def open_store(url: str, *, upgrade: bool = True) -> Store:
    """Open the store at `url`, creating it if needed and upgrading its schema to the newest revision."""
    engine = create_store_engine(url)
    try:
        if upgrade:
            migrate(engine)
        else:
            with engine.connect():
                pass
    except DatabaseError as exc:
        engine.dispose()
        raise StoreError(
            f"Cannot open the store at {redact_url(url)}: {exc.orig}. Check the store URL, that the "
            "database server is running, that the data dir is writable, and that the file is a Rollproof store."
        ) from None
    except Exception:
        engine.dispose()
        raise
    return Store(engine)


def _check_uint(name: str, value: int, bits: int = 63) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value >= 2**bits:
        raise ValueError(f"{name} must be a non-negative integer below 2**{bits}, got {value!r}.")
    return value


def _checksum(address: str) -> str:
    """EIP-55 checksummed address; a clear error for anything else."""
    from eth_utils import to_checksum_address

    try:
        return to_checksum_address(address)
    except (ValueError, TypeError):
        raise ValueError(f"{address!r} is not an Ethereum address.") from None


class Store:
    """Typed access to one node's database. Thread-safe: each call uses its own session."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @property
    def url(self) -> str:
        return redact_url(self.engine.url)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One database transaction: committed when the block ends, rolled back if it raises."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def _use(self, session: Session | None) -> Iterator[Session]:
        if session is not None:
            yield session
        else:
            with self.transaction() as s:
                yield s

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
        _check_uint("task_id", task_id)
        with self._use(session) as s:
            task = s.get(Task, task_id)
            if task is None:
                task = Task(task_id=task_id, params={})
                s.add(task)
            if proposer is not None:
                task.proposer = _checksum(proposer)
            if env_id is not None:
                task.env_id = to_hex32(env_id)
            if env_name is not None:
                task.env_name = env_name
            if params is not None:
                task.params = {
                    k: (str(v) if isinstance(v, int) and v >= 2**53 else v) for k, v in params.items()
                }
            if seed_round is not None:
                task.seed_round = _check_uint("seed_round", seed_round)
            if challenge_round is not None:
                task.challenge_round = _check_uint("challenge_round", challenge_round)
            if posted_block is not None:
                task.posted_block = _check_uint("posted_block", posted_block)
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
                _check_uint("problem", r.problem, 32)
                _check_uint("index", r.index, 32)
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
        _check_uint("task_id", task_id)
        _check_uint("problem", problem, 32)
        _check_uint("index", index, 32)
        if not isinstance(payload, bytes | bytearray) or len(payload) > MAX_PAYLOAD_BYTES:
            raise ValueError(
                f"A received rollout payload must be bytes of at most {MAX_PAYLOAD_BYTES} bytes."
            )
        miner = _checksum(miner)
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
                q = q.where(ReceivedRollout.miner == _checksum(miner))
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
            row = s.get(ReceivedRollout, (task_id, _checksum(miner), problem, index))
            if row is None:
                raise StoreError(f"No received rollout ({problem}, {index}) of {miner} for task {task_id}.")
            row.verified_reward = int(reward)

    def mark_used_for_training(
        self, keys: Iterable[tuple[int, str, int, int]], *, session: Session | None = None
    ) -> None:
        with self._use(session) as s:
            for task_id, miner, problem, index in keys:
                row = s.get(ReceivedRollout, (task_id, _checksum(miner), problem, index))
                if row is not None:
                    row.used_for_training = True

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
            row.count = _check_uint("count", count, 32)
            row.committed_block = block
            if tx_hash is not None:
                row.tx_hash = to_hex32(tx_hash)

    def _commitment_row(self, s: Session, task_id: int, miner: str) -> Commitment:
        miner = _checksum(miner)
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
        miner = _checksum(miner)
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
                q = q.where(Audit.miner == _checksum(miner))
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
        _check_uint("nonce", nonce)
        with self._use(session) as s:
            old = s.get(SentTransaction, intent)
            if old is not None:
                return old, False
            row = SentTransaction(
                intent=intent,
                sender=_checksum(sender),
                nonce=nonce,
                tx_hash=to_hex32(tx_hash),
                raw_tx=raw_tx,
                to=None if to is None else _checksum(to),
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
                q = q.where(SentTransaction.sender == _checksum(sender))
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
        _check_uint("block", block)
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

    # ---- peers --------------------------------------------------------------------------------

    def upsert_peer(
        self,
        peer_id: str,
        *,
        address: str | None = None,
        multiaddrs: Sequence[str] | None = None,
        roles: Sequence[str] | None = None,
        session: Session | None = None,
    ) -> Peer:
        if not peer_id or len(peer_id) > 128:
            raise ValueError("A peer id must be 1..128 characters.")
        with self._use(session) as s:
            row = s.get(Peer, peer_id)
            if row is None:
                row = Peer(peer_id=peer_id, multiaddrs=[], roles=[], first_seen=now())
                s.add(row)
            if address is not None:
                row.address = _checksum(address)
            if multiaddrs is not None:
                row.multiaddrs = [str(m) for m in multiaddrs][:32]
            if roles is not None:
                row.roles = sorted({str(r) for r in roles})
            row.last_seen = now()
            s.flush()
            return row

    def ban_peer(self, peer_id: str, reason: str, *, session: Session | None = None) -> None:
        with self._use(session) as s:
            row = self.upsert_peer(peer_id, session=s)
            row.banned = True
            row.ban_reason = reason[:1000]

    def peers(self, *, include_banned: bool = False, session: Session | None = None) -> list[Peer]:
        with self._use(session) as s:
            q = select(Peer).order_by(Peer.last_seen.desc())
            if not include_banned:
                q = q.where(Peer.banned.is_(False))
            return list(s.scalars(q))

    # ---- adapters -----------------------------------------------------------------------------

    def add_adapter(
        self,
        adapter_hash: bytes | str,
        path: str | os.PathLike[str],
        *,
        parent: bytes | str | None = None,
        own: bool = False,
        task_id: int | None = None,
        session: Session | None = None,
    ) -> Adapter:
        """Record an adapter by content hash (idempotent: an existing hash keeps its first record)."""
        h = to_hex32(adapter_hash)
        with self._use(session) as s:
            row = s.get(Adapter, h)
            if row is None:
                row = Adapter(
                    adapter_hash=h,
                    path=str(path),
                    parent=None if parent is None else to_hex32(parent),
                    own=own,
                    task_id=task_id,
                )
                s.add(row)
                s.flush()
            return row

    def adapter(self, adapter_hash: bytes | str, *, session: Session | None = None) -> Adapter | None:
        with self._use(session) as s:
            return s.get(Adapter, to_hex32(adapter_hash))

    def latest_own_adapter(self, *, session: Session | None = None) -> Adapter | None:
        with self._use(session) as s:
            q = select(Adapter).where(Adapter.own.is_(True)).order_by(Adapter.created_at.desc()).limit(1)
            return s.scalars(q).first()

    def adapter_lineage(self, adapter_hash: bytes | str, *, limit: int = 10_000) -> list[Adapter]:
        """The adapter and its ancestors, newest first (stops at an unknown parent or a cycle)."""
        out: list[Adapter] = []
        seen: set[str] = set()
        with self.transaction() as s:
            h: str | None = to_hex32(adapter_hash)
            while h is not None and h not in seen and len(out) < limit:
                seen.add(h)
                row = s.get(Adapter, h)
                if row is None:
                    break
                out.append(row)
                h = row.parent
        return out

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
        address = _checksum(address)
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
                q = q.where(Outcome.address == _checksum(address))
            return list(s.scalars(q))


@dataclass(frozen=True)
class StoreCursors:
    """Event cursors kept in the store; implements chain.events.CursorStore."""

    store: Store

    def get(self, key: str) -> int | None:
        return self.store.get_cursor(key)

    def set(self, key: str, block: int) -> None:
        self.store.set_cursor(key, block)
