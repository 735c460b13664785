"""The node store: open (and migrate) a database, and the typed operations the roles use.

Every method runs in its own database transaction unless it is given `session=`, in which case
it joins the caller's transaction. Roles combine a state transition with the data it depends on
(e.g. all rollouts + GENERATED) in one `with store.transaction() as s:` block, so a crash at any
point leaves either both or neither.

One room per job: node/store/database.py (URL, engine, migrations), sessions.py (transactions),
tasks.py, rollouts.py, audits.py, jury.py, transactions.py, peers.py, adapters.py (the operations).
"""

from __future__ import annotations

from sqlalchemy.exc import DatabaseError

from node.store.adapters import AdapterStore
from node.store.audits import AuditStore
from node.store.database import StoreError, create_store_engine, migrate, redact_url
from node.store.jury import JuryStore
from node.store.peers import PeerStore
from node.store.rollouts import RolloutStore
from node.store.tasks import TaskStore
from node.store.transactions import TransactionStore


class Store(TaskStore, RolloutStore, AuditStore, JuryStore, TransactionStore, PeerStore, AdapterStore):
    """Typed access to one node's database. Thread-safe: each call uses its own session."""


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
