"""The store's adapters: LoRA adapters by hash and the lineage of each."""

from __future__ import annotations

import os

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.store.models import (
    Adapter,
    to_hex32,
)
from node.store.sessions import StoreBase


class AdapterStore(StoreBase):
    """Adapters by hash (own and received) and their parent chain."""

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
