"""The store's peers: libp2p peers seen, their addresses and bans."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.store.models import (
    Peer,
    now,
)
from node.store.sessions import StoreBase, checksum


class PeerStore(StoreBase):
    """Peers by id, with the address they proved and any ban."""

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
                row.address = checksum(address)
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
