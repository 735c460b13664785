"""Circuit relay v2 for P2PNode (off unless configured): a reachable node relays for others
(`relay_hop`), a node that cannot be dialled reserves a slot on relays (`relay_via`) and is then
reachable at `<relay addr>/p2p/<relay id>/p2p-circuit/p2p/<its id>`, and any node with the relay on
dials such addresses. Every relayed connection is upgraded with noise + yamux end to end like a
direct one, so the relay sees only ciphertext.

py-libp2p 0.8.1's relay carries a connection when driven this way (docs/P2P.md, "Circuit relay"):
the destination reserves explicitly over a HOP stream (`CircuitV2Transport.reserve`; the
auto-reserving RelayDiscovery of the package's example never reserved), and the source dials
through `CircuitV2Transport.dial` with the relay's /p2p/ id in the address (the example's address
lacked it; the swarm's TCP transport cannot dial /p2p-circuit at all)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import multiaddr
import trio
from libp2p.peer.id import ID
from libp2p.relay.circuit_v2 import CircuitV2Protocol, CircuitV2Transport
from libp2p.relay.circuit_v2.config import RelayConfig
from libp2p.relay.circuit_v2.protocol import PROTOCOL_ID as HOP_PROTOCOL

from .common import _parse_peer_addr
from .discovery import circuit_address, dialable

log = logging.getLogger("rollproof.p2p")

CIRCUIT = "/p2p-circuit"
RESERVE_CHECK_SECONDS = 2.0
RENEW_SECONDS = 30.0  # a held reservation is renewed this often while the connection stays up...
RENEW_FAILURES = 2  # ...and counts as lost after this many renewals in a row failed


def is_circuit(addr: str) -> bool:
    return CIRCUIT in str(addr)


class Relay:
    """The relay protocol (STOP always, HOP when `hop`), its transport, and our reservations."""

    def __init__(self, host: Any, hop: bool, via: list[str]) -> None:
        self.host = host
        self.protocol = CircuitV2Protocol(host, allow_hop=hop)
        self.transport = CircuitV2Transport(host, self.protocol, RelayConfig())
        self.via = [_parse_peer_addr(a) for a in via]
        self.reserved: set[ID] = set()
        self.renew_seconds = RENEW_SECONDS
        self.renewed: dict[ID, float] = {}  # trio time of the last granted RESERVE per relay
        self.renew_failures: dict[ID, int] = {}
        # Called (in the trio thread) when a reservation is gained or lost: the host reseals its
        # signed address record, so peers learn the circuit addresses by peer exchange.
        self.on_change: Callable[[], None] | None = None

    def circuit_addrs(self) -> list[str]:
        """Where we are reachable now: each reserved relay's dialable addresses + /p2p-circuit."""
        out: list[str] = []
        for info in self.via:
            if info.peer_id in self.reserved:
                relay = info.peer_id.to_base58()
                out += [circuit_address(str(a), relay) for a in info.addrs if dialable(str(a))]
        return out

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    async def dial(self, peer: ID, addr: Any) -> None:
        """Connect to `peer` through the relay named in `addr` (…/p2p/<relay>/p2p-circuit)."""
        full = multiaddr.Multiaddr(f"{addr}/p2p/{peer.to_base58()}")
        await self.transport.dial(full)

    async def keep_reservations(self, nursery: trio.Nursery) -> None:
        """Reserve on every `relay_via` relay we are connected to; again after a reconnection.

        A held reservation is renewed every `renew_seconds` while the connection stays up: a relay
        can lose it without closing the connection (it stopped relaying, restarted its relay
        service, or evicted us), and py-libp2p says nothing then (its own refresher only renews
        shortly before the expiry, 1 h by default, and forgets a failed renewal silently). After
        RENEW_FAILURES renewals in a row fail, the slot counts as lost and the circuit address
        leaves our record; a later reservation brings it back."""
        while True:
            connected = set(self.host.get_connected_peers())
            for info in self.via:
                relay = info.peer_id
                if relay not in connected:
                    if relay in self.reserved:
                        self._lose(relay, "the connection closed")
                    continue
                if relay in self.reserved and trio.current_time() - self.renewed[relay] < self.renew_seconds:
                    continue
                if await self._reserve(relay, nursery):
                    self.renewed[relay] = trio.current_time()
                    self.renew_failures.pop(relay, None)
                    if relay not in self.reserved:
                        self.reserved.add(relay)
                        log.info("reserved a relay slot on %s", relay)
                        self._changed()
                elif relay in self.reserved:
                    failures = self.renew_failures[relay] = self.renew_failures.get(relay, 0) + 1
                    if failures >= RENEW_FAILURES:
                        self._lose(relay, f"{failures} renewals in a row failed")
            await trio.sleep(RESERVE_CHECK_SECONDS)

    async def _reserve(self, relay: ID, nursery: trio.Nursery) -> bool:
        """One RESERVE over a fresh HOP stream (the public `CircuitV2Transport.reserve`; the relay
        renews a reservation it still holds): True when the relay granted it."""
        try:
            with trio.fail_after(10):
                stream = await self.host.new_stream(relay, [HOP_PROTOCOL])
                try:
                    return bool(await self.transport.reserve(stream, relay, nursery))
                finally:
                    with trio.move_on_after(1):
                        await stream.close()
        except Exception as exc:  # noqa: BLE001 - retried on the next round
            log.info("relay reservation on %s failed: %r", relay, exc)
            return False

    def _lose(self, relay: ID, why: str) -> None:
        self.reserved.discard(relay)
        self.renewed.pop(relay, None)
        self.renew_failures.pop(relay, None)
        log.warning("lost the relay slot on %s (%s); its circuit address leaves our record", relay, why)
        self._changed()
