"""P2PNode: one libp2p host (TCP + noise + yamux, GossipSub) in a trio thread, driven from plain threads.

Zero-loss configuration (py-libp2p 0.8.1 defaults drop silently, see docs/P2P.md):
- GossipSub's per-topic spam limit (10 msg/s, also applied to our own publishes) is off; the
  per-sender token bucket in `GossipValidator` replaces it and publishers pace below it.
- The 32-slot subscription channel is bypassed: `_ZeroLossPubsub.notify_subscriptions` hands
  each accepted message to our own unbounded dispatch queue.
- Per-peer outbound queues get `outbound_queue_slots` slots, and `publish()` waits while a live
  peer's queue is deeper than `publish_high_water` (backpressure instead of drops), for at most
  `publish_stall_seconds`: then that peer counts as stalled and is skipped, so one slow or dead
  peer never holds up the others; a stalled peer that fills its queue is disconnected and repairs
  itself by history catch-up when it reconnects. Drops are counted.

Liveness and repair: every connected peer is pinged; a peer that misses `ping_failures` pings is
disconnected (a silent partition otherwise keeps a dead TCP connection for minutes). Bootstrap
and discovered peers are redialled with backoff, and every new connection triggers peer
exchange and a history catch-up of the subscribed topics from that peer.
"""

from __future__ import annotations

import json
import logging
import queue
import random
import socket
import struct
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import multiaddr
import trio
from eth_account import Account
from eth_hash.auto import keccak
from libp2p import new_host
from libp2p.crypto.x25519 import create_new_key_pair as new_x25519_key_pair
from libp2p.host.ping import ID as PING_PROTOCOL
from libp2p.host.ping import perform_ping_roundtrip
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr
from libp2p.pubsub.gossipsub import PROTOCOL_ID, PROTOCOL_ID_V11, GossipSub
from libp2p.pubsub.pubsub import Pubsub
from libp2p.pubsub.score import PeerScorer, ScoreParams, TopicScoreParams
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.tools.anyio_service import background_trio_service

from .config import P2PConfig
from .discovery import (
    MAX_RECORDS,
    PEERS_PROTOCOL,
    AddressRecord,
    RecordError,
    advertised_addrs,
    dialable,
    open_address_record,
    seal_address_record,
)
from .identity import key_pair_from_secret, load_or_create_identity
from .metrics import P2PMetrics
from .reqresp import (
    ADAPTER_PROTOCOL,
    HISTORY_PROTOCOL,
    MAX_HISTORY_PAGE,
    MAX_OPENING_INDICES,
    OPENINGS_PROTOCOL,
    FrameError,
    RequestError,
    encode_frame,
    expect,
    read_frame,
)
from .validation import SOFT_REASONS, Accepted, GossipValidator, TaskRules, TokenBucket
from .wire import KIND_NAMES, Payload, RolloutMsg, WireError, decode_payload, encode_payload, sign_envelope

log = logging.getLogger("rollproof.p2p")

Handler = Callable[["Received"], None]
RequestHandler = Callable[[str, dict[str, Any]], dict[str, Any]]
OpeningsHandler = Callable[[int, str, list[tuple[int, int]]], list[tuple[RolloutMsg, list[bytes]]]]
AdapterProvider = Callable[[bytes], Path | None]


@dataclass(frozen=True)
class Received:
    """A validated gossip message as handed to subscribers."""

    topic: str
    payload: Payload
    signer: str  # Ethereum address that signed the envelope
    origin: str  # libp2p peer id (base58) that first published it; "" when fetched by history
    sent_ms: int
    envelope: bytes


class P2PError(RuntimeError):
    pass


class _DeepQueues(dict):
    """peer_queues mapping that enlarges each new RpcQueue and counts what it still drops."""

    def __init__(self, slots: int, on_drop: Callable[[], None]) -> None:
        super().__init__()
        self.slots = slots
        self.on_drop = on_drop

    def __setitem__(self, peer_id: Any, rpc_queue: Any) -> None:
        rpc_queue._queue.max_size = self.slots
        push = rpc_queue.push

        def counting_push(rpc: Any, priority: bool = False) -> bool:
            if rpc.publish and rpc.HasField("senderRecord"):
                # py-libp2p attaches (and every receiver verifies) a signed peer record on every
                # message RPC; the hello RPC already carried it, so data RPCs go without.
                rpc.ClearField("senderRecord")
            ok = push(rpc, priority)
            if not ok and not rpc_queue.closed:
                self.on_drop()
            return ok

        rpc_queue.push = counting_push
        pop = rpc_queue.pop
        rpc_queue.drained = 0

        async def counting_pop() -> Any:
            rpc = await pop()
            rpc_queue.drained += 1
            return rpc

        rpc_queue.pop = counting_pop
        super().__setitem__(peer_id, rpc_queue)


class _SoftAwareScorer(PeerScorer):
    """GossipSub's P4 counts every failed validation against the forwarder; ours are not all the
    forwarder's fault (SOFT_REASONS: a duplicate, a view of the chain one block behind). The
    validator notes soft rejections per forwarder; this scorer skips that many penalties."""

    def __init__(self, params: ScoreParams, soft: dict[ID, int]) -> None:
        super().__init__(params)
        self.soft = soft

    def on_invalid_message(self, peer: ID, topic: str) -> None:
        pending = self.soft.get(peer, 0)
        if pending > 0:
            self.soft[peer] = pending - 1
            return
        super().on_invalid_message(peer, topic)


class _NoValidationCache:
    """py-libp2p caches a failed validation by message id and fails every later copy from the cache,
    charging whoever forwarded the copy. A message refused as `rate_limited` (soft) would then cost
    each honest relay of it a hard penalty: a staked flood could graylist honest peers. Our validator
    runs again instead (duplicates cost a hash; the rest a signature recovery) and says soft or hard."""

    def get(self, msg_id: bytes) -> None:
        return None

    def put(self, msg_id: bytes, result: Any) -> None:
        return None

    def clear_expired(self) -> None:
        return None


class _ZeroLossPubsub(Pubsub):
    def __init__(
        self, *args: Any, sink: Callable[[Any], None], slots: int, on_drop: Callable[[], None], **kw
    ):
        super().__init__(*args, **kw)
        self.peer_queues = _DeepQueues(slots, on_drop)
        self.validation_cache = _NoValidationCache()
        self._sink = sink

    def notify_subscriptions(self, publish_message: Any) -> None:
        if any(topic in self.topic_ids for topic in publish_message.topicIDs):
            self._sink(publish_message)


def _parse_peer_addr(addr: str) -> PeerInfo:
    try:
        return info_from_p2p_addr(multiaddr.Multiaddr(addr))
    except Exception as exc:
        raise ValueError(
            f"peer address {addr!r} is not a multiaddr like /ip4/1.2.3.4/tcp/4001/p2p/<peer id>: {exc}"
        ) from None


class P2PNode:
    """Thread-safe facade over a libp2p host; every public method may be called from any thread."""

    def __init__(
        self,
        config: P2PConfig,
        account_key: bytes,
        is_staked: Callable[[str], bool],
        identity_secret: bytes | None = None,
        task_rules: Callable[[int], TaskRules | None] | None = None,
    ) -> None:
        self.config = config
        self.account = Account.from_key(account_key)
        self.account_key = bytes(account_key)
        if identity_secret is None:
            if config.identity_path is None:
                raise ValueError("P2PConfig.identity_path or identity_secret is required")
            identity_secret = load_or_create_identity(Path(config.identity_path))
        self.key_pair = key_pair_from_secret(identity_secret)
        self.peer_id = ID.from_pubkey(self.key_pair.public_key)
        self.metrics = P2PMetrics()
        self.validator = GossipValidator(
            is_staked,
            config.max_message_bytes,
            config.max_tokens,
            config.sender_rate,
            config.sender_burst,
            config.dedup_entries,
            config.stake_cache_seconds,
            task_rules,
        )
        self.publish_bucket = TokenBucket(config.publish_rate, max(1.0, config.publish_rate / 10))
        self.publish_lock = threading.Lock()
        self.handlers: dict[str, list[Handler]] = defaultdict(list)
        self.request_handlers: dict[str, RequestHandler] = {}
        self.history: dict[str, deque[bytes]] = defaultdict(lambda: deque(maxlen=config.history_per_topic))
        # Absolute sequence numbers of history (history_total[topic] envelopes were ever appended),
        # so a reconnecting peer asks only for what it has not seen from us; `epoch` changes on
        # every start, so a client knows our numbering restarted.
        self.history_total: dict[str, int] = defaultdict(int)
        self.epoch = random.getrandbits(63)
        self.history_cursor: dict[tuple[str, str], tuple[int, int]] = {}  # (peer, topic) -> (epoch, next)
        self.records: dict[str, AddressRecord] = {}  # peer id -> newest verified address record
        self.own_record: bytes = b""
        self.advertised: list[str] = []
        self.stalled: set[ID] = set()
        self.last_pong: dict[ID, float] = {}  # trio time of each peer's last ping answer
        self.pinging: set[ID] = set()
        self.soft_rejections: dict[ID, int] = defaultdict(int)
        self.graylisted: dict[ID, float] = {}  # peer -> trio time its blacklisting ends
        self.rtt_ms: dict[str, float] = {}
        self._nursery: trio.Nursery | None = None
        self._dispatch_lock = threading.Lock()
        self._enqueued = 0
        self._dispatched = 0
        self.accepted: dict[bytes, Accepted] = {}
        self.targets: dict[str, dict[str, Any]] = {}  # peer id -> {info, backoff, next, failures}
        self.request_buckets: dict[tuple[str, str], TokenBucket] = {}
        self.deliveries: queue.Queue[Received | None] = queue.Queue()
        self.listen_addrs: list[str] = []
        self._thread: threading.Thread | None = None
        self._dispatcher: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self.failure: BaseException | None = None  # set if the trio thread died after start
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self.host: Any = None
        self.pubsub: Any = None
        for addr in config.bootstrap:
            self._add_target(addr)

    # ----------------------------------------------------------------- lifecycle
    def start(self, timeout: float = 30.0) -> P2PNode:
        """Start the trio thread and wait until the host listens; raise P2PError with the cause."""
        self._thread = threading.Thread(target=self._run, name="p2p-trio", daemon=True)
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="p2p-dispatch", daemon=True)
        self._dispatcher.start()
        self._thread.start()
        if not self._ready.wait(timeout):
            raise P2PError(f"the p2p host did not start within {timeout:.0f} s")
        if self._startup_error is not None:
            raise P2PError(
                f"the p2p host could not listen on {self.config.listen_addr}: {self._startup_error}"
            )
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Close connections and join the threads; safe to call twice."""
        if self._token is not None and self._stop is not None:
            try:
                trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
            except (trio.RunFinishedError, RuntimeError):
                pass
        if self._thread is not None:
            self._thread.join(timeout)
        self.deliveries.put(None)
        if self._dispatcher is not None:
            self._dispatcher.join(timeout)
        self._token = None

    def __enter__(self) -> P2PNode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:  # noqa: BLE001 - reported below, never re-raised into the void
            if _is_shutdown_noise(exc) and self._ready.is_set():
                log.debug("p2p shutdown noise ignored: %r", exc)
            elif self._ready.is_set() and self._startup_error is None:
                self.failure = exc
                log.error("the p2p host stopped unexpectedly: %r", exc)
            else:
                self._startup_error = self._startup_error or exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        cfg = self.config
        self._token = trio.lowlevel.current_trio_token()
        self._stop = trio.Event()
        listen = multiaddr.Multiaddr(cfg.listen_addr)
        noise = NoiseTransport(self.key_pair, noise_privkey=new_x25519_key_pair().private_key)
        self.host = new_host(
            key_pair=self.key_pair,
            sec_opt={NOISE_PROTOCOL_ID: noise},
            muxer_preference="YAMUX",
            listen_addrs=[listen],
        )
        # GossipSub 1.1, not 1.2: py-libp2p's IDONTWANT handling costs more CPU than it saves on
        # loopback and LAN (measured: 35-50% more CPU per received message, docs/P2P.md).
        router = GossipSub(
            [PROTOCOL_ID_V11, PROTOCOL_ID],
            cfg.gossip_degree,
            cfg.gossip_degree_low,
            cfg.gossip_degree_high,
            heartbeat_interval=cfg.heartbeat_seconds,
            spam_protection_enabled=False,
            eclipse_protection_enabled=cfg.eclipse_protection,
            score_params=self._score_params(),
        )
        router.scorer = _SoftAwareScorer(router.scorer.params, self.soft_rejections)
        self.pubsub = _ZeroLossPubsub(
            self.host,
            router,
            sink=self._on_message,
            slots=cfg.outbound_queue_slots,
            on_drop=self._on_drop,
            max_inbound_rpc_size=max(1024 * 1024, cfg.max_message_bytes * 4),
            cache_size=4096,
        )
        async with self.host.run([listen]):
            async with background_trio_service(self.pubsub), background_trio_service(router):
                await self.pubsub.wait_until_ready()
                self.request_handlers.setdefault(HISTORY_PROTOCOL, self._serve_history)
                self.request_handlers.setdefault(PEERS_PROTOCOL, self._serve_peers)
                # Openings and adapters always answer (an error until the node serves them), and
                # handlers registered with serve() before start() go live now.
                for protocol in {OPENINGS_PROTOCOL, ADAPTER_PROTOCOL, *self.request_handlers}:
                    self.host.set_stream_handler(protocol, self._make_stream_handler(protocol))
                self.listen_addrs = [_with_peer_id(str(a), self.peer_id) for a in self.host.get_addrs()]
                if not self.listen_addrs:
                    # py-libp2p logs a failed bind and carries on; a node nobody can dial is an error.
                    raise P2PError("the address is unavailable (in use, or not an address of this machine)")
                self.advertised = advertised_addrs(self.listen_addrs, cfg.announce)
                self.own_record = (
                    seal_address_record(self.key_pair, self.advertised) if self.advertised else b""
                )
                self._ready.set()
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    nursery.start_soon(self._connect_loop, nursery)
                    nursery.start_soon(self._peer_gauge_loop)
                    nursery.start_soon(self._keepalive_loop)
                    nursery.start_soon(self._exchange_loop)
                    await self._stop.wait()
                    nursery.cancel_scope.cancel()
        # Closing the host inside host.run can raise "Nursery is closed"; _run tolerates it.

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
        if target is not None:
            target["info"] = info  # a newer signed record replaces the addresses we dial
        elif (
            self._discovered() < self.config.max_peers
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
        if record is not None:
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
        peerstore = self.host.get_peerstore()
        good = [a for a in info.addrs if dialable(str(a))]
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

    # ----------------------------------------------------------------- gossip
    def subscribe(self, topic: str, handler: Handler) -> None:
        """Deliver every validated message of `topic` to `handler` (called on the dispatch thread).

        A first subscription also starts a background catch-up of the topic from every connected
        peer (a late joiner or a restarted node gets what was gossiped before it listened)."""
        self.handlers[topic].append(handler)
        self._call(self._subscribe, topic)

    async def _subscribe(self, topic: str) -> None:
        if topic in self.pubsub.topic_ids:
            return
        self.pubsub.set_topic_validator(topic, self._make_validator(topic), False)
        await self.pubsub.subscribe(topic)
        if self.config.catch_up_on_connect and self._nursery is not None:
            self._nursery.start_soon(self._catch_up_quietly, topic)

    async def _catch_up_quietly(self, topic: str) -> None:
        await trio.sleep(0.2)
        new = await self._catch_up(topic)
        if new:
            self.metrics.count("repaired", new)

    def unsubscribe(self, topic: str) -> None:
        """Leave `topic` and forget its handlers and history (call when a task is settled)."""
        self.handlers.pop(topic, None)
        self.history.pop(topic, None)
        self.history_total.pop(topic, None)
        self.validator.forget_topic(topic)
        self._call(self._unsubscribe, topic)

    async def _unsubscribe(self, topic: str) -> None:
        if topic in self.pubsub.topic_ids:
            await self.pubsub.unsubscribe(topic)
        self.pubsub.remove_topic_validator(topic)

    def _make_validator(self, topic: str) -> Callable[[ID, Any], bool]:
        def validate(forwarder: ID, msg: Any) -> bool:
            if forwarder == self.peer_id and msg.from_id == self.peer_id.to_bytes():
                return True  # our own publish: publish() already ran the same checks
            if self.validator.known_envelope(topic, msg.data):
                # The same envelope again (it came by history first, or by two paths): no news.
                self.soft_rejections[forwarder] += len(msg.topicIDs)
                return False
            reasons: list[str] = []

            def rejected(reason: str) -> None:
                reasons.append(reason)
                self.metrics.reject(reason)

            accepted = self.validator.check_counted(topic, msg.data, rejected)
            if accepted is None:
                if not reasons or reasons[0] in SOFT_REASONS:
                    # not the forwarder's fault: _SoftAwareScorer skips the penalty that follows
                    self.soft_rejections[forwarder] += len(msg.topicIDs)
                return False
            self.accepted[msg.from_id + msg.seqno] = accepted
            if len(self.accepted) > 10_000:
                # Normally popped at once by _on_message; this only bounds py-libp2p's odd paths.
                self.accepted.pop(next(iter(self.accepted)))
            return True

        return validate

    def _on_message(self, msg: Any) -> None:
        accepted = self.accepted.pop(msg.from_id + msg.seqno, None)
        if accepted is None:
            return  # our own publish, or a topic we validate elsewhere
        self._remember(accepted.topic, bytes(msg.data))
        latency = time.time() - accepted.envelope.sent_ms / 1000
        self.metrics.delivered(KIND_NAMES[accepted.envelope.kind], len(msg.data), latency)
        self._deliver(
            Received(
                accepted.topic,
                accepted.payload,
                accepted.signer,
                ID(msg.from_id).to_base58(),
                accepted.envelope.sent_ms,
                bytes(msg.data),
            )
        )

    def _on_drop(self) -> None:
        self.metrics.dropped.inc()
        self.metrics.count("outbound_dropped")

    def _deliver(self, item: Received) -> None:
        with self._dispatch_lock:
            self._enqueued += 1
        self.deliveries.put(item)

    def wait_dispatched(self, timeout: float = 30.0) -> bool:
        """Wait until every message delivered so far went through its handlers (True) or timeout."""
        with self._dispatch_lock:
            target = self._enqueued
        deadline = time.monotonic() + timeout
        while self._dispatched < target:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def _dispatch_loop(self) -> None:
        while True:
            item = self.deliveries.get()
            if item is None:
                return
            for handler in list(self.handlers.get(item.topic, ())):
                try:
                    handler(item)
                except Exception:
                    self.metrics.count("handler_errors")
                    log.exception("a gossip handler for %s failed", item.topic)
            self._dispatched += 1

    def publish(self, topic: str, payload: Payload) -> None:
        """Sign and publish; blocks (paces) instead of dropping. Raises WireError if it would be rejected."""
        data = sign_envelope(topic, payload, self.account_key)
        self.publish_envelope(topic, data, check=True)

    def publish_envelope(self, topic: str, data: bytes, check: bool = True) -> None:
        """Publish pre-encoded envelope bytes (check=False only for adversarial tests)."""
        if check:
            accepted = self.validator.check(topic, data)
            self._remember(topic, data)
            kind = KIND_NAMES[accepted.envelope.kind]
        else:
            kind = "raw"
        with self.publish_lock:
            while (wait := self.publish_bucket.wait_time()) > 0:
                time.sleep(wait)
            self.publish_bucket.take()
        self._call(self._publish, topic, data)
        self.metrics.published(kind, len(data))

    async def _publish(self, topic: str, data: bytes) -> None:
        # Backpressure per peer: wait while a live peer's queue is above the high-water mark, but
        # at most publish_stall_seconds; a peer that has not drained by then is marked stalled and
        # no longer waited for (the keepalive loop unmarks it once it drains, or disconnects it).
        cfg = self.config
        deadline = trio.current_time() + cfg.publish_stall_seconds
        while True:
            deep = [
                peer
                for peer, q in self.pubsub.peer_queues.items()
                if len(q) > cfg.publish_high_water and peer not in self.stalled
            ]
            if not deep:
                break
            if trio.current_time() >= deadline:
                for peer in deep:
                    log.warning("peer %s is not keeping up; publishing on without waiting for it", peer)
                    self.stalled.add(peer)
                    self.metrics.count("stalled_peers")
                break
            await trio.sleep(0.002)
        await self.pubsub.publish(topic, data)

    def topic_peers(self, topic: str) -> int:
        """How many connected peers announced a subscription to `topic`."""
        return self._call_sync(lambda: len(self.pubsub.peer_topics.get(topic, ())))

    def wait_for_topic_peers(self, topic: str, count: int, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.topic_peers(topic) >= count:
                return True
            time.sleep(0.1)
        return False

    # ----------------------------------------------------------------- request/response
    def serve(self, protocol: str, handler: RequestHandler) -> None:
        """Answer `protocol` requests with `handler(peer_id, request) -> response` (runs in a worker thread)."""
        self.request_handlers[protocol] = handler
        if self._token is not None:
            self._call_sync(
                lambda: self.host.set_stream_handler(protocol, self._make_stream_handler(protocol))
            )

    def serve_openings(self, handler: OpeningsHandler) -> None:
        """Serve Merkle openings: handler(task_id, miner, [(p, g)]) -> [(rollout, proof)]."""

        def answer(peer: str, req: dict[str, Any]) -> dict[str, Any]:
            task_id = expect(req, "task_id", int, "openings request")
            miner = expect(req, "miner", str, "openings request")
            indices = expect(req, "indices", list, "openings request")
            if len(indices) > MAX_OPENING_INDICES:
                raise FrameError(f"at most {MAX_OPENING_INDICES} indices per request")
            pairs = []
            for item in indices:
                if type(item) is not list or len(item) != 2 or not all(type(v) is int for v in item):
                    raise FrameError("indices must be [p, g] integer pairs")
                pairs.append((item[0], item[1]))
            result = handler(task_id, miner, pairs)
            return {"openings": [[encode_payload(r), [bytes(h) for h in proof]] for r, proof in result]}

        self.serve(OPENINGS_PROTOCOL, answer)

    def serve_adapters(self, provider: AdapterProvider) -> None:
        """Serve adapter files by hash: provider(hash32) -> path of the file, or None."""
        chunk_max = self.config.adapter_chunk_bytes

        def answer(peer: str, req: dict[str, Any]) -> dict[str, Any]:
            digest = expect(req, "hash", bytes, "adapter request")
            offset = expect(req, "offset", int, "adapter request")
            length = min(expect(req, "length", int, "adapter request"), chunk_max)
            path = provider(digest) if len(digest) == 32 else None
            if path is None:
                raise FrameError(f"no adapter with hash 0x{digest.hex()}")
            with open(path, "rb") as fh:
                fh.seek(0, 2)
                total = fh.tell()
                if not 0 <= offset <= total or length < 0:
                    raise FrameError(f"offset {offset} is outside the adapter (size {total})")
                fh.seek(offset)
                data = fh.read(length)
            return {"total": total, "data": data}

        self.serve(ADAPTER_PROTOCOL, answer)

    def _serve_history(self, peer: str, req: dict[str, Any]) -> dict[str, Any]:
        topic = expect(req, "topic", str, "history request")
        offset = expect(req, "offset", int, "history request")
        limit = min(expect(req, "limit", int, "history request"), MAX_HISTORY_PAGE)
        items = list(self.history.get(topic, ()))
        total = self.history_total.get(topic, 0)
        first = total - len(items)  # sequence number of items[0]; older ones fell out of the deque
        start = max(offset, first)
        page: list[bytes] = []
        size = 0
        for data in items[start - first : start - first + max(0, limit)]:
            size += len(data) + 8
            if size > self.config.max_response_bytes // 2:
                break
            page.append(data)
        return {"envelopes": page, "total": total, "next": start + len(page), "epoch": self.epoch}

    def _make_stream_handler(self, protocol: str) -> Callable[[Any], Any]:
        async def handle(stream: Any) -> None:
            peer = stream.muxed_conn.peer_id.to_base58()
            try:
                bucket = self.request_buckets.get((peer, protocol))
                if bucket is None:
                    bucket = TokenBucket(self.config.requests_per_peer_per_s, self.config.requests_burst)
                    self.request_buckets[(peer, protocol)] = bucket
                with trio.fail_after(self.config.request_timeout):
                    if stream.muxed_conn.peer_id in self.graylisted:
                        response = {"error": "graylisted: this peer sent invalid gossip"}
                        outcome = "rate_limited"
                    elif not bucket.take():
                        response = {"error": "rate limited: too many requests from this peer"}
                        outcome = "rate_limited"
                    else:
                        try:
                            request = await read_frame(stream, self.config.max_request_bytes)
                            handler = self.request_handlers.get(protocol)
                            if handler is None:
                                raise FrameError(f"this node does not serve {protocol}")
                            response = await trio.to_thread.run_sync(handler, peer, request)
                            outcome = "ok"
                        except (FrameError, WireError, ValueError) as exc:
                            response = {"error": str(exc)}
                            outcome = "bad_request"
                    try:
                        frame = encode_frame(response, self.config.max_response_bytes)
                    except FrameError as exc:
                        frame = encode_frame({"error": str(exc)}, self.config.max_response_bytes)
                        outcome = "oversize"
                    await stream.write(frame)
                self.metrics.requests.labels(protocol, "server", outcome).inc()
            except Exception as exc:
                self.metrics.requests.labels(protocol, "server", "error").inc()
                log.debug("serving %s to %s failed: %r", protocol, peer, exc)
            finally:
                try:
                    await stream.close()
                except Exception:
                    pass

        return handle

    def request(
        self, peer: str, protocol: str, payload: dict[str, Any], timeout: float | None = None
    ) -> dict:
        """Send one request and return the response map; raise RequestError with a readable cause."""
        return self._call(self._request, peer, protocol, payload, timeout or self.config.request_timeout)

    async def _request(self, peer: str, protocol: str, payload: dict[str, Any], timeout: float) -> dict:
        if peer.startswith("/"):
            info = _parse_peer_addr(peer)
        else:
            try:
                info = PeerInfo(ID.from_base58(peer), [])
            except Exception:
                raise RequestError(f"{peer!r} is neither a peer id nor a /p2p/ multiaddr") from None
            if info.peer_id not in self.host.get_connected_peers():
                # Dial by address: from the peer's signed record (peer exchange) or our targets.
                addrs = self.known_addresses(peer)
                if not addrs:
                    raise RequestError(
                        f"no address known for peer {peer} (not connected, no address record); "
                        "is it running and reachable from a bootstrap peer?"
                    )
                info = PeerInfo(info.peer_id, [_parse_peer_addr(a).addrs[0] for a in addrs])
        start = time.monotonic()
        outcome = "error"
        try:
            with trio.fail_after(timeout):
                if info.addrs or info.peer_id not in self.host.get_connected_peers():
                    network = self.host.get_network()
                    if hasattr(network, "unblock_peer"):
                        network.unblock_peer(info.peer_id)
                    await self._connect(info)
                stream = await self.host.new_stream(info.peer_id, [protocol])
                try:
                    await stream.write(encode_frame(payload, self.config.max_request_bytes))
                    response = await read_frame(stream, self.config.max_response_bytes)
                finally:
                    try:
                        await stream.close()
                    except Exception:
                        pass
            if "error" in response:
                outcome = "remote_error"
                raise RequestError(f"peer {info.peer_id} refused {protocol}: {response['error']}")
            outcome = "ok"
            return response
        except trio.TooSlowError:
            outcome = "timeout"
            raise RequestError(
                f"peer {info.peer_id} did not answer {protocol} within {timeout:.0f} s"
            ) from None
        except FrameError as exc:
            outcome = "bad_response"
            raise RequestError(f"peer {info.peer_id} sent a bad {protocol} reply: {exc}") from None
        except RequestError:
            raise
        except Exception as exc:
            raise RequestError(
                f"request {protocol} to {info.peer_id} failed: {exc or type(exc).__name__}"
            ) from None
        finally:
            self.metrics.requests.labels(protocol, "client", outcome).inc()
            self.metrics.request_latency.labels(protocol).observe(time.monotonic() - start)

    def fetch_openings(
        self, peer: str, task_id: int, miner: str, indices: list[tuple[int, int]]
    ) -> list[tuple[RolloutMsg, list[bytes]]]:
        """Fetch rollouts (p, g) of `miner` with their Merkle proofs (checked by the caller against the root)."""
        if len(indices) > MAX_OPENING_INDICES:
            raise ValueError(f"at most {MAX_OPENING_INDICES} indices per openings request")
        reply = self.request(
            peer,
            OPENINGS_PROTOCOL,
            {"task_id": task_id, "miner": miner, "indices": [list(i) for i in indices]},
        )
        out = []
        try:
            for body, proof in expect(reply, "openings", list, "openings reply"):
                rollout = decode_payload(0, body, self.config.max_tokens)
                if not isinstance(rollout, RolloutMsg) or rollout.task_id != task_id:
                    raise RequestError("openings reply holds a rollout of another task")
                if not all(type(h) is bytes and len(h) == 32 for h in proof):
                    raise RequestError("openings reply holds a malformed Merkle proof")
                out.append((rollout, list(proof)))
        except (FrameError, WireError, TypeError, ValueError) as exc:
            raise RequestError(f"peer {peer} sent malformed openings: {exc}") from None
        return out

    def fetch_history(self, peer: str, topic: str) -> int:
        """Catch up on `topic` from a peer's history; every envelope is re-validated. Returns new deliveries."""
        return self._call(self._fetch_history, peer, topic)

    async def _fetch_history(self, peer: str, topic: str) -> int:
        # Resume from where we stopped on this peer (same epoch), else from its oldest envelope.
        peer_key = peer.split("/p2p/")[-1]
        epoch, offset = self.history_cursor.get((peer_key, topic), (None, 0))
        new = 0
        while True:
            reply = await self._request(
                peer,
                HISTORY_PROTOCOL,
                {"topic": topic, "offset": offset, "limit": MAX_HISTORY_PAGE},
                self.config.request_timeout,
            )
            envelopes, nxt, their_epoch = reply.get("envelopes"), reply.get("next"), reply.get("epoch")
            if type(envelopes) is not list or type(nxt) is not int:
                raise RequestError(f"peer {peer} sent a malformed history page")
            if epoch is not None and their_epoch != epoch:
                # The peer restarted: its numbering starts again at 0.
                epoch, offset = their_epoch, 0
                continue
            epoch = their_epoch
            for data in envelopes:
                if type(data) is not bytes or self.validator.known_envelope(topic, data):
                    continue
                accepted = self.validator.check_counted(
                    topic, data, self.metrics.reject, count_duplicates=False
                )
                if accepted is None:
                    continue
                new += 1
                self._remember(topic, data)
                latency = time.time() - accepted.envelope.sent_ms / 1000
                self.metrics.delivered(KIND_NAMES[accepted.envelope.kind], len(data), latency)
                self._deliver(
                    Received(topic, accepted.payload, accepted.signer, "", accepted.envelope.sent_ms, data)
                )
            if topic in self.handlers:
                self.history_cursor[(peer_key, topic)] = (epoch, max(offset, nxt))
            if not envelopes or nxt <= offset:
                return new
            offset = nxt

    def catch_up(self, topic: str) -> int:
        """fetch_history from every connected peer (a late joiner's first step, and the repair
        before an audit with missing gossip); returns new deliveries."""
        return self._call(self._catch_up, topic)

    async def _catch_up(self, topic: str) -> int:
        new = 0
        for peer in self.host.get_connected_peers():
            try:
                new += await self._fetch_history(peer.to_base58(), topic)
            except Exception as err:  # noqa: BLE001 - one peer failing must not stop the others
                log.warning("could not catch up on %s from %s: %s", topic, peer, err)
        return new

    def fetch_adapter(
        self,
        peer: str,
        adapter_hash: bytes,
        dest: Path,
        attempts: int = 3,
        verify: Callable[[Path, bytes], bool] | None = None,
    ) -> Path:
        """Download an adapter by hash into `dest`; resumes a `.part` file, retries on corruption.

        `verify(path, hash)` decides whether the downloaded file matches; the default is
        keccak256(file bytes) == hash. A canonical tensor hash (verifier.models) plugs in here.
        """
        check = verify or (lambda path, digest: file_keccak(path) == digest)
        dest = Path(dest)
        part = dest.with_name(dest.name + ".part")
        for attempt in range(1, attempts + 1):
            offset = part.stat().st_size if part.exists() else 0
            total = None
            with open(part, "ab") as fh:
                while total is None or offset < total:
                    reply = self.request(
                        peer,
                        ADAPTER_PROTOCOL,
                        {
                            "hash": bytes(adapter_hash),
                            "offset": offset,
                            "length": self.config.adapter_chunk_bytes,
                        },
                    )
                    total, data = reply.get("total"), reply.get("data")
                    if type(total) is not int or type(data) is not bytes or (not data and offset < total):
                        raise RequestError(f"peer {peer} sent a malformed adapter chunk")
                    fh.write(data)
                    offset += len(data)
                    self.metrics.count("adapter_bytes_in", len(data))
            if check(part, bytes(adapter_hash)):
                part.replace(dest)
                return dest
            self.metrics.count("adapter_corrupt")
            log.warning(
                "adapter 0x%s from %s failed its hash check (attempt %d); retrying",
                adapter_hash.hex(),
                peer,
                attempt,
            )
            part.unlink()
        raise RequestError(
            f"adapter 0x{adapter_hash.hex()} from {peer} failed its hash check {attempts} times"
        )

    # ----------------------------------------------------------------- observability
    def stats(self) -> dict[str, Any]:
        """Plain dict for `rollproof status` and logs."""
        with self.metrics.lock:
            counts = dict(self.metrics.counts)
            rejected = dict(self.metrics.rejections)
        peers = self.connected_peers()
        return {
            "peer_id": self.peer_id.to_base58(),
            "address": self.account.address,
            "listen": list(self.listen_addrs),
            "advertised": list(self.advertised),
            "peers": len(peers),
            "peer_ids": sorted(peers),
            "records_known": len(self.records),
            "stalled": sorted(p.to_base58() for p in self.stalled),
            "graylisted": sorted(p.to_base58() for p in self.graylisted),
            "dead_peers_dropped": counts.get("dead_peers_dropped", 0),
            "ping_failures": counts.get("ping_failures", 0),
            "dials_ok": counts.get("dials_ok", 0),
            "dials_failed": counts.get("dials_failed", 0),
            "repaired": counts.get("repaired", 0),
            "bootstrap_unreachable": sorted(
                pid for pid, t in list(self.targets.items()) if t["failures"] > 0 and pid not in peers
            ),
            "topics": sorted(self.handlers),
            "messages_in": counts.get("messages_in", 0),
            "messages_out": counts.get("messages_out", 0),
            "bytes_in": counts.get("bytes_in", 0),
            "bytes_out": counts.get("bytes_out", 0),
            "rejected": rejected,
            "outbound_dropped": counts.get("outbound_dropped", 0),
            "handler_errors": counts.get("handler_errors", 0),
            "pending_deliveries": self.deliveries.qsize(),
            "latency_s": self.metrics.latency_percentiles(),
        }

    def write_stats(self, path: Path) -> None:
        """Write stats() as JSON atomically, for `rollproof status` running in another process."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.stats(), indent=1, sort_keys=True) + "\n")
        tmp.replace(path)

    # ----------------------------------------------------------------- plumbing
    def _call(self, afn: Callable[..., Any], *args: Any) -> Any:
        if self._token is None:
            raise P2PError("the p2p node is not running (call start() first)")
        try:
            return trio.from_thread.run(afn, *args, trio_token=self._token)
        except trio.RunFinishedError:
            raise P2PError("the p2p node has stopped") from None

    def _call_sync(self, fn: Callable[[], Any]) -> Any:
        if self._token is None:
            raise P2PError("the p2p node is not running (call start() first)")
        try:
            return trio.from_thread.run_sync(fn, trio_token=self._token)
        except trio.RunFinishedError:
            raise P2PError("the p2p node has stopped") from None


def file_keccak(path: Path) -> bytes:
    """keccak256 of a file's bytes, streamed (adapter content hash)."""
    hasher = keccak.new(b"")
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            hasher.update(chunk)
    return hasher.digest()


def _raw_sockets(root: Any, depth: int = 8) -> list[Any]:
    """The trio sockets under a py-libp2p connection object (its layers keep them in attributes
    whose names differ per transport; walk them instead of hard-coding the chain)."""
    found: list[Any] = []
    seen: set[int] = set()
    todo = [(root, 0)]
    while todo:
        obj, level = todo.pop()
        if id(obj) in seen or level > depth:
            continue
        seen.add(id(obj))
        if isinstance(obj, trio.socket.SocketType):
            found.append(obj)
            continue
        module = type(obj).__module__ or ""
        if not (module.startswith("libp2p") or module.startswith("trio")):
            continue
        attrs = getattr(obj, "__dict__", {})
        for name in getattr(type(obj), "__slots__", ()):
            if hasattr(obj, name):
                attrs = {**attrs, name: getattr(obj, name)}
        for value in attrs.values():
            if value is not None and not isinstance(value, int | float | str | bytes | dict | list):
                todo.append((value, level + 1))
    return found


def _with_peer_id(addr: str, peer_id: ID) -> str:
    return addr if "/p2p/" in addr else f"{addr}/p2p/{peer_id.to_base58()}"


def _is_shutdown_noise(exc: BaseException) -> bool:
    """py-libp2p sometimes raises 'Nursery is closed' (or cancellations) while tearing down."""
    if isinstance(exc, BaseExceptionGroup):
        return all(_is_shutdown_noise(e) for e in exc.exceptions)
    text = str(exc)
    return isinstance(exc, trio.Cancelled) or "Nursery is closed" in text or "nursery is closed" in text
