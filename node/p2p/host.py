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

Layout: this module holds the state, the lifecycle (the trio thread, the host and pubsub set-up) and
stats; the behaviour comes from one mixin per job: `connectivity.Connectivity` (dialling, ping,
scoring, peer exchange), `gossip.Gossip` (subscribe, validate, dispatch, publish) and
`serving.RequestResponse` (openings, adapters, history). `pubsub_patches` holds the py-libp2p
pubsub changes listed above; `common` the types and helpers they share.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import random
import threading
from collections import defaultdict, deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import multiaddr
import trio
from eth_account import Account
from libp2p import new_host
from libp2p.crypto.x25519 import create_new_key_pair as new_x25519_key_pair
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import PROTOCOL_ID, PROTOCOL_ID_V11, GossipSub
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.tools.anyio_service import background_trio_service

from .common import (
    Handler,
    P2PError,
    Received,
    RequestHandler,
    _is_shutdown_noise,
    _with_peer_id,
    file_keccak,
)
from .config import P2PConfig
from .connectivity import Connectivity
from .discovery import (
    PEERS_PROTOCOL,
    AddressRecord,
    advertised_addrs,
    seal_address_record,
)
from .gossip import Gossip
from .identity import key_pair_from_secret, load_or_create_identity
from .metrics import P2PMetrics
from .pubsub_patches import _SoftAwareScorer, _ZeroLossPubsub
from .reqresp import (
    ADAPTER_PROTOCOL,
    HISTORY_PROTOCOL,
    OPENINGS_PROTOCOL,
)
from .serving import RequestResponse
from .validation import Accepted, GossipValidator, TaskRules, TokenBucket

__all__ = ["P2PError", "P2PNode", "Received", "file_keccak"]

log = logging.getLogger("rollproof.p2p")


class P2PNode(Connectivity, Gossip, RequestResponse):
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
        # Connected peers without our pubsub stream: peer -> (trio time of the next try, backoff)
        self.stream_repairs: dict[ID, tuple[float, float]] = {}
        self.repairing: set[ID] = set()
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
        self.relay: Any = None  # node.p2p.relay.Relay when circuit relay is configured
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
        relay = None
        if cfg.relay_hop or cfg.relay_via or cfg.relay_client:
            from .relay import Relay

            relay = self.relay = Relay(self.host, cfg.relay_hop, cfg.relay_via)
            for addr in cfg.relay_via:
                self._add_target(addr)  # stay connected to our relays
        async with self.host.run([listen]), contextlib.AsyncExitStack() as services:
            if relay is not None:
                await services.enter_async_context(background_trio_service(relay.protocol))
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
                if relay is not None:
                    relay.on_change = self._reseal_record
                self._reseal_record()
                self._ready.set()
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    nursery.start_soon(self._connect_loop, nursery)
                    nursery.start_soon(self._peer_gauge_loop)
                    nursery.start_soon(self._keepalive_loop)
                    nursery.start_soon(self._exchange_loop)
                    if relay is not None and relay.via:
                        nursery.start_soon(relay.keep_reservations, nursery)
                    await self._stop.wait()
                    nursery.cancel_scope.cancel()
        # Closing the host inside host.run can raise "Nursery is closed"; _run tolerates it.

    def _reseal_record(self) -> None:
        """Sign what others should dial into our address record (a new seq, so it replaces the old):
        `announce` or the listen addresses, and the circuit address of every relay holding a slot
        for us. A node behind relays (`relay_via`) without `announce` cannot be dialled directly, so
        its record holds only circuit addresses (none, and no record, until a relay reserved; an
        empty record once every slot it held is lost)."""
        cfg = self.config
        direct = advertised_addrs(self.listen_addrs, cfg.announce)
        circuits: list[str] = []
        if self.relay is not None and self.relay.via:
            circuits = self.relay.circuit_addrs()
            if not cfg.announce:
                direct = []
        self.advertised = [*direct, *circuits]
        if self.advertised or self.own_record:
            # Once we handed out a record, an empty one (a higher seq) withdraws its addresses
            # where it went: a relay slot lost must not leave peers dialling a dead circuit.
            self.own_record = seal_address_record(self.key_pair, self.advertised)

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
            "pubsub_streams_repaired": counts.get("pubsub_streams_repaired", 0),
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
