"""Opening a store's database: its URL, the engine (SQLite or PostgreSQL, one writer at a time)
and the Alembic migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

# The Alembic environment lives at the top of the source tree (installed editable).
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"  # shipped in the wheel (package data)
SQLITE_BUSY_TIMEOUT_MS = 15_000


class StoreError(Exception):
    """A store problem explained as a sentence that says what to do."""


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
