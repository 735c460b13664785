"""Connectivity and discovery of P2PNode: dialling with backoff, ping and dead-peer removal, peer
scoring and graylisting, signed address records and peer exchange."""

from __future__ import annotations

import logging
import random
import socket
import struct
from typing import Any

import multiaddr
import trio
from libp2p.host.ping import ID as PING_PROTOCOL
from libp2p.host.ping import perform_ping_roundtrip
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from libp2p.pubsub.score import ScoreParams, TopicScoreParams

from .common import (
    P2PError,
    _parse_peer_addr,
    _raw_sockets,
)
from .discovery import (
    MAX_RECORDS,
    PEERS_PROTOCOL,
    RecordError,
    dialable,
    open_address_record,
)
from .reqresp import (
    RequestError,
)

log = logging.getLogger("rollproof.p2p")

DIRECT_BEFORE_RELAY_SECONDS = 3.0  # a peer with direct and circuit addresses: direct dial budget
STREAM_REPAIR_MAX_SECONDS = 60.0  # longest wait between two tries to open a peer's pubsub stream


class Connectivity:
    """Mixin of P2PNode (node/p2p/host.py holds the state it uses)."""

    # ----------------------------------------------------------------- connectivity
    def _add_target(self, addr: str, discovered: bool = False) -> None:
        info = _parse_peer_addr(addr)
        key = info.peer_id.to_base58()
        if key == self.peer_id.to_base58():
            return
        self.targets.setdefault(
            key,
            {
                "info": info,
                "backoff": 0.0,
                "next": 0.0,
                "failures": 0,
                "busy": False,
                "discovered": discovered,
            },
        )

    def add_peers(self, addrs: list[str]) -> None:
        """Add bootstrap peers (e.g. read from the on-chain registry); dialled and kept connected."""
        for addr in addrs:
            if self._token is not None:
                trio.from_thread.run_sync(self._add_target, addr, trio_token=self._token)
            else:
                self._add_target(addr)

    def connected_peers(self) -> list[str]:
        if self.host is None:
            return []
        return [p.to_base58() for p in self.host.get_connected_peers()]

    async def _connect_loop(self, nursery: trio.Nursery) -> None:
        known: set[ID] = set()
        while True:
            connected = set(self.host.get_connected_peers())
            for peer in connected - known:
                self.last_pong[peer] = trio.current_time()  # a new connection starts alive
                nursery.start_soon(self._on_new_peer, peer)
            for peer in known - connected:
                self.stalled.discard(peer)
                self.last_pong.pop(peer, None)
            known = connected
            now = trio.current_time()
            for target in list(self.targets.values()):
                info = target["info"]
                if info.peer_id in connected:
                    target["backoff"] = 0.0
                    continue
                if not target["busy"] and target["next"] <= now:
                    target["busy"] = True
                    nursery.start_soon(self._dial, target)
            await trio.sleep(0.25)

    async def _dial(self, target: dict[str, Any]) -> None:
        info = target["info"]
        cfg = self.config
        try:
            # Our backoff is the retry policy; py-libp2p's negative dial cache would block it.
            network = self.host.get_network()
            if hasattr(network, "unblock_peer"):
                network.unblock_peer(info.peer_id)
            with trio.fail_after(10):
                await self._connect(info)
            target["failures"] = 0
            target["backoff"] = 0.0
            self.metrics.count("dials_ok")
        except Exception as exc:
            target["failures"] += 1
            backoff = target["backoff"] * 2 if target["backoff"] else cfg.reconnect_min_seconds
            target["backoff"] = min(cfg.reconnect_max_seconds, backoff)
            # Two peers redialling each other at the same moment both fail (py-libp2p aborts both
            # handshakes); the peer with the higher id waits longer, so the other's dial gets through.
            higher = self.peer_id.to_base58() > info.peer_id.to_base58()
            target["next"] = trio.current_time() + target["backoff"] * random.uniform(0.5, 1.5) * (
                3.0 if higher else 1.0
            )
            self.metrics.count("dials_failed")
            if log.isEnabledFor(logging.DEBUG):
                chain, cause = [], exc
                while cause is not None and len(chain) < 8:
                    chain.append(f"{type(cause).__name__}: {cause}")
                    cause = cause.__cause__ or cause.__context__
                log.debug("dial %s failed: %s", info.peer_id, " <- ".join(chain))
            level = (
                logging.WARNING
                if target["failures"] in (1, 5) or target["failures"] % 20 == 0
                else logging.DEBUG
            )
            log.log(
                level,
                "cannot reach peer %s at %s (%s); attempt %d, retrying in %.1f s",
                info.peer_id,
                ", ".join(str(a) for a in info.addrs),
                type(exc).__name__ if not str(exc) else exc,
                target["failures"],
                target["backoff"],
            )
        finally:
            target["busy"] = False

    async def _on_new_peer(self, peer: ID) -> None:
        """Repair after every (re)connection: learn its address records, then fetch what it holds
        of our topics that we have not seen (history since our last cursor on this peer)."""
        key = peer.to_base58()
        try:
            await self._exchange_with(key)
        except Exception as exc:  # noqa: BLE001 - an old node without the protocol is fine
            log.debug("peer exchange with %s failed: %r", key, exc)
        if not self.config.catch_up_on_connect:
            return
        await trio.sleep(0.2)  # let the peer's own subscriptions settle first
        for topic in list(self.handlers):
            try:
                new = await self._fetch_history(key, topic)
                if new:
                    self.metrics.count("repaired", new)
                    log.info("caught up %d message(s) of %s from %s", new, topic, key)
            except Exception as exc:  # noqa: BLE001 - the next connection tries again
                log.debug("catch-up of %s from %s failed: %r", topic, key, exc)

    async def _keepalive_loop(self) -> None:
        """Ping every peer; drop those that stop answering; release graylisted peers; disconnect a
        stalled peer whose queue is full (it will catch up from history when it reconnects).

        Pings run as their own tasks and a peer is judged by the age of its last answer, so a
        ping stuck behind a dead connection's full send window cannot stall the judgement."""
        cfg = self.config
        limit = cfg.ping_interval * cfg.ping_failures + cfg.ping_timeout
        drained: dict[ID, int] = {}
        while True:
            await trio.sleep(cfg.ping_interval)
            now = trio.current_time()
            for peer in self.host.get_connected_peers():
                self.last_pong.setdefault(peer, now)
                # A connection that still takes our messages is alive, only slow: its pings queue
                # behind our data (one TCP stream). Dead = no ping answer and nothing drained.
                q = self.pubsub.peer_queues.get(peer)
                progress = getattr(q, "drained", 0)
                if q is not None and progress != drained.get(peer, progress) and len(q) > 0:
                    self.last_pong[peer] = now
                drained[peer] = progress
                if peer not in self.pinging:
                    self.pinging.add(peer)
                    self._nursery.start_soon(self._ping, peer)
                if now - self.last_pong[peer] > limit:
                    log.warning(
                        "peer %s has not answered a ping for %.0f s; dropping the connection", peer, limit
                    )
                    self.metrics.count("dead_peers_dropped")
                    self._nursery.start_soon(self._disconnect, peer)
                    self.last_pong[peer] = now  # one drop per silence, not one per loop
            self._apply_graylist()
            self._repair_pubsub_streams(now)
            for peer, q in list(self.pubsub.peer_queues.items()):
                if peer in self.stalled and len(q) <= cfg.publish_high_water:
                    self.stalled.discard(peer)
                    log.info("peer %s drained its queue; no longer stalled", peer)
                elif peer in self.stalled and len(q) >= cfg.outbound_queue_slots * 0.9:
                    log.warning(
                        "peer %s does not read its messages; disconnecting (it catches up later)", peer
                    )
                    self.metrics.count("stalled_disconnects")
                    self._nursery.start_soon(self._disconnect, peer)

    def _repair_pubsub_streams(self, now: float) -> None:
        """Open our pubsub stream to every connected peer that lacks one. Without it the peer never
        hears our subscriptions (so never sends us the topic) and gets none of our messages, while
        the connection itself stays healthy. py-libp2p opens the stream once per connection and gives
        up when the protocol negotiation fails (StreamFailure is not among the errors it retries):
        seen as a node deaf to one peer for the rest of a run. A peer gets one ping interval of grace
        (the library's own attempt), then tries with doubling backoff up to a minute."""
        pubsub = self.pubsub
        connected = set(self.host.get_connected_peers())
        for peer in list(self.stream_repairs):
            if peer not in connected or peer in pubsub.peers:
                del self.stream_repairs[peer]
        for peer in connected:
            if peer in pubsub.peers or pubsub.is_peer_blacklisted(peer) or peer in self.repairing:
                continue
            interval = self.config.ping_interval
            next_try, backoff = self.stream_repairs.setdefault(peer, (now + interval, interval))
            if now < next_try:
                continue
            self.stream_repairs[peer] = (now + backoff, min(backoff * 2, STREAM_REPAIR_MAX_SECONDS))
            self.repairing.add(peer)
            self._nursery.start_soon(self._repair_pubsub_stream, peer)

    async def _repair_pubsub_stream(self, peer: ID) -> None:
        try:
            if peer in self.pubsub.peers:
                return  # the library's own attempt won meanwhile
            with trio.move_on_after(self.config.ping_timeout):
                await self.pubsub._handle_new_peer(peer)
            if peer in self.pubsub.peers:
                self.metrics.count("pubsub_streams_repaired")
                log.info("opened the missing pubsub stream to %s", peer)
        except Exception as exc:  # noqa: BLE001 - negotiation, reset, closed: the next try comes
            log.debug("pubsub stream to %s still failing: %r", peer, exc)
        finally:
            self.repairing.discard(peer)

    async def _ping(self, peer: ID) -> None:
        try:
            with trio.fail_after(self.config.ping_timeout):
                stream = await self.host.new_stream(peer, [PING_PROTOCOL])
                try:
                    rtt = await perform_ping_roundtrip(stream)
                finally:
                    with trio.move_on_after(1):
                        await stream.close()
            self.last_pong[peer] = trio.current_time()
            self.rtt_ms[peer.to_base58()] = float(rtt)
        except Exception:  # noqa: BLE001 - timeout, reset, closed: all mean "not answering"
            self.metrics.count("ping_failures")
        finally:
            self.pinging.discard(peer)

    async def _disconnect(self, peer: ID) -> None:
        """Drop every connection to `peer` now. A graceful close waits on a dead connection's full
        send window (and py-libp2p keeps the connection listed meanwhile, so redials would reuse
        it); instead reset the TCP connection (RST), forget it in the swarm, tell the notifees
        (pubsub drops the peer), and let the close finish in the background."""
        self.stalled.discard(peer)
        self.last_pong.pop(peer, None)
        network = self.host.get_network()
        for conn in list(network.connections.get(peer, []) or []):
            for sock in _raw_sockets(conn):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            try:
                network.remove_conn(conn)
            except Exception as exc:  # noqa: BLE001
                log.debug("forgetting a connection to %s: %r", peer, exc)
            with trio.move_on_after(2):
                try:
                    await network.notify_disconnected(conn)
                except Exception as exc:  # noqa: BLE001
                    log.debug("disconnect notification for %s: %r", peer, exc)
            self._nursery.start_soon(self._close_quietly, conn)

    async def _close_quietly(self, conn: Any) -> None:
        with trio.move_on_after(10):
            try:
                await conn.close()
            except Exception:  # noqa: BLE001 - it is dead already
                pass

    def _score_params(self) -> ScoreParams:
        cfg = self.config
        return ScoreParams(
            p4_invalid_messages=TopicScoreParams(weight=1.0, cap=cfg.score_cap, decay=cfg.score_decay),
            p5_behavior_penalty_weight=1.0,
            p5_behavior_penalty_decay=cfg.score_decay,
            gossip_threshold=cfg.gossip_threshold,
            # py-libp2p drops a forwarder's messages unvalidated below publish_threshold; at the
            # graylist threshold, so the score of a junk sender can fall that far at all.
            publish_threshold=cfg.graylist_threshold,
            graylist_threshold=cfg.graylist_threshold,
            accept_px_threshold=0.0,
        )

    def peer_score(self, peer: str) -> float:
        """GossipSub score of a peer over our subscribed topics (0 for a well-behaved peer)."""
        pid = ID.from_base58(peer)
        return self._call_sync(lambda: self.pubsub.router.scorer.score(pid, list(self.handlers)))

    def _apply_graylist(self) -> None:
        scorer = self.pubsub.router.scorer
        now = trio.current_time()
        topics = list(self.handlers)
        for peer, until in list(self.graylisted.items()):
            if until <= now:
                del self.graylisted[peer]
                self.pubsub.remove_from_blacklist(peer)
                scorer.remove_peer(peer)
        if not topics:
            return
        for peer in list(self.pubsub.peers):
            if peer not in self.graylisted and scorer.score(peer, topics) < self.config.graylist_threshold:
                log.warning("peer %s graylisted (score below %.0f)", peer, self.config.graylist_threshold)
                self.metrics.count("graylisted")
                self.graylisted[peer] = now + self.config.graylist_seconds
                self.pubsub.add_to_blacklist(peer)
                self.targets.pop(peer.to_base58(), None)

    # ----------------------------------------------------------------- discovery
    def _serve_peers(self, peer: str, req: dict[str, Any]) -> dict[str, Any]:
        """Our own signed address record first, then the newest records we verified of others."""
        records = [self.own_record] if self.own_record else []
        others = sorted(self.records.values(), key=lambda r: -r.seq)
        records += [r.envelope for r in others if r.peer_id != peer][: MAX_RECORDS - 1]
        return {"records": records}

    async def _exchange_with(self, peer: str) -> int:
        reply = await self._request(peer, PEERS_PROTOCOL, {}, self.config.request_timeout)
        records = reply.get("records")
        if type(records) is not list:
            raise RequestError(f"peer {peer} sent a malformed peers reply")
        learned = 0
        for data in records[:MAX_RECORDS]:
            try:
                learned += self.learn_record(data)
            except RecordError as exc:
                self.metrics.count("bad_records")
                log.debug("address record from %s rejected: %s", peer, exc)
        return learned

    def learn_record(self, data: bytes) -> bool:
        """Keep a verified address record if it is newer than what we hold; dial it if we have room."""
        record = open_address_record(data)
        if record.peer_id == self.peer_id.to_base58():
            return False
        held = self.records.get(record.peer_id)
        if held is not None and held.seq >= record.seq:
            return False
        self.records[record.peer_id] = record
        if len(self.records) > 4 * self.config.max_peers + MAX_RECORDS:
            oldest = min(self.records.values(), key=lambda r: r.seq)
            self.records.pop(oldest.peer_id, None)
        info = PeerInfo(ID.from_base58(record.peer_id), [multiaddr.Multiaddr(a) for a in record.addrs])
        target = self.targets.get(record.peer_id)
        if not record.addrs:
            # Withdrawn (a node behind relays that lost every slot): stop dialling what it found
            # by discovery; a configured peer keeps its configured addresses.
            if target is not None and target.get("discovered"):
                self.targets.pop(record.peer_id, None)
        elif target is not None:
            target["info"] = info  # a newer signed record replaces the addresses we dial
        elif (
            (self.relay is not None or len(record.circuits()) < len(record.addrs))
            and self._discovered() < self.config.max_peers
            and not self._is_graylisted(record.peer_id)
            # Both sides learn each other by peer exchange; only the lower id dials, so the two do
            # not dial at once (py-libp2p then fails both handshakes and both retry).
            and self.peer_id.to_base58() < record.peer_id
        ):
            self.targets[record.peer_id] = {
                "info": info,
                "backoff": 0.0,
                "next": 0.0,
                "failures": 0,
                "busy": False,
                "discovered": True,
            }
        self.metrics.count("records_learned")
        return True

    def _discovered(self) -> int:
        return sum(1 for t in self.targets.values() if t.get("discovered"))

    def _is_graylisted(self, peer_id: str) -> bool:
        return any(p.to_base58() == peer_id for p in self.graylisted)

    async def _exchange_loop(self) -> None:
        while True:
            await trio.sleep(self.config.px_interval)
            for peer in list(self.host.get_connected_peers()):
                try:
                    await self._exchange_with(peer.to_base58())
                except Exception as exc:  # noqa: BLE001
                    log.debug("peer exchange with %s failed: %r", peer, exc)

    def known_addresses(self, peer_id: str) -> list[str]:
        """Dialable addresses of a peer from its signed record (or our dial targets)."""
        record = self.records.get(peer_id)
        if record is not None and (record.addrs or peer_id not in self.targets):
            return record.dial_addrs()
        target = self.targets.get(peer_id)
        if target is not None:
            return [f"{a}/p2p/{peer_id}" for a in target["info"].addrs]
        return []

    def _remember(self, topic: str, data: bytes) -> None:
        self.history[topic].append(data)
        self.history_total[topic] += 1

    async def _connect(self, info: PeerInfo) -> None:
        """Dial only addresses we trust for this peer: py-libp2p also dials every address identify
        told it, and a peer listening on 0.0.0.0 reports /ip4/0.0.0.0/... (which reaches our own
        listener, so the handshake fails) and loopback ports; after a partition every redial failed
        that way."""
        circuits = [a for a in info.addrs if "/p2p-circuit" in str(a)]
        good = [a for a in info.addrs if dialable(str(a)) and a not in circuits]
        if circuits and self.relay is not None:
            if good:
                # Direct first, briefly: an address behind a firewall that drops packets would
                # otherwise use up the caller's whole timeout before the relay is tried.
                with trio.move_on_after(DIRECT_BEFORE_RELAY_SECONDS):
                    try:
                        await self._connect_direct(info.peer_id, good)
                        return
                    except Exception as exc:  # noqa: BLE001 - the relay is the fallback
                        log.debug("direct dial of %s failed (%r); trying its relays", info.peer_id, exc)
            await self._connect_relayed(info.peer_id, circuits)
            return
        if circuits and not good:
            raise P2PError(
                f"peer {info.peer_id} is reachable only through a relay; this node does not dial "
                "/p2p-circuit addresses ([p2p] relay_client)"
            )
        await self._connect_direct(info.peer_id, good)

    async def _connect_relayed(self, peer: ID, circuits: list[Any]) -> None:
        """Through the first relay that carries the connection (the swarm's TCP transport cannot
        dial /p2p-circuit; the relay transport can)."""
        failure: Exception | None = None
        for circuit in circuits:
            try:
                await self.relay.dial(peer, circuit)
                return
            except Exception as exc:  # noqa: BLE001 - the next relay may carry it
                failure = exc
        raise P2PError(f"no relay carried a connection to {peer}: {failure!r}")

    async def _connect_direct(self, peer: ID, good: list[Any]) -> None:
        info = PeerInfo(peer, good)
        peerstore = self.host.get_peerstore()
        if good:
            peerstore.clear_addrs(info.peer_id)
            peerstore.add_addrs(info.peer_id, good, 3600)
        else:
            stale = [a for a in peerstore.addrs(info.peer_id) if not dialable(str(a))]
            if stale:
                keep = [a for a in peerstore.addrs(info.peer_id) if dialable(str(a))]
                peerstore.clear_addrs(info.peer_id)
                peerstore.add_addrs(info.peer_id, keep, 3600)
        await self.host.connect(PeerInfo(info.peer_id, good))

    async def _peer_gauge_loop(self) -> None:
        while True:
            self.metrics.peers.set(len(self.host.get_connected_peers()))
            await trio.sleep(1.0)
