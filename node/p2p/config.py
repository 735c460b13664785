"""P2P configuration (one dataclass, read from the node's TOML [p2p] table)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class P2PConfig:
    """Everything the libp2p layer needs; defaults are tuned for zero loss at devnet rates."""

    identity_path: Path | None = None  # 32-byte secp256k1 secret (hex); created if missing
    listen_addr: str = "/ip4/0.0.0.0/tcp/4001"
    bootstrap: list[str] = field(default_factory=list)  # "/ip4/../tcp/../p2p/<peer id>"
    # Addresses others should dial (NAT, port forward, a public IP): put in our signed address
    # record instead of the listen addresses; empty: the listen addresses, 0.0.0.0 expanded.
    announce: list[str] = field(default_factory=list)
    # Discovery
    max_peers: int = 32  # discovered peers dialled and kept connected (bootstrap peers always)
    px_interval: float = 15.0  # ask every connected peer for address records this often
    # Gossip
    max_message_bytes: int = 256 * 1024  # envelope size limit (a 256-token rollout is ~3 KB)
    max_tokens: int = 16384  # per prompt / completion
    outbound_queue_slots: int = 8192  # per-peer; py-libp2p's 32 drops bursts silently
    publish_high_water: int = 64  # publish() waits while a live peer's queue is deeper than this...
    publish_stall_seconds: float = 2.0  # ...for at most this long; then that peer is "stalled" and skipped
    publish_rate: float = 200.0  # own messages/s (token bucket); stays under the sender limit
    sender_rate: float = 400.0  # accepted messages/s per signing address, across topics
    sender_burst: float = 800.0
    dedup_entries: int = 200_000  # remembered (kind, task, sender, p, g) keys
    stake_cache_seconds: float = 30.0
    gossip_degree: int = 6
    gossip_degree_low: int = 4
    gossip_degree_high: int = 12
    heartbeat_seconds: int = 1
    eclipse_protection: bool = True  # needs >= 3 distinct IPs; tests on 127.0.0.1 turn it off
    history_per_topic: int = 20_000  # envelopes kept to serve late joiners
    # Request/response
    request_timeout: float = 20.0
    max_request_bytes: int = 64 * 1024
    max_response_bytes: int = 8 * 1024 * 1024
    adapter_chunk_bytes: int = 512 * 1024
    max_adapter_bytes: int = 256 * 1024 * 1024  # largest adapter file accepted from a peer
    requests_per_peer_per_s: float = 50.0
    requests_burst: float = 100.0
    # Circuit relay v2 (node/p2p/relay.py); off unless one of these is set
    relay_hop: bool = False  # relay connections for others (a reachable node)
    relay_via: list[str] = field(default_factory=list)  # relays to reserve a slot on (full /p2p/ addrs)
    relay_client: bool = False  # dial /p2p-circuit addresses (implied by the two above)
    # Connectivity and liveness
    reconnect_min_seconds: float = 0.5
    reconnect_max_seconds: float = 30.0
    ping_interval: float = 5.0  # /ipfs/ping/1.0.0 to every connected peer
    ping_timeout: float = 10.0  # generous: a peer on a busy CPU answers late, not never
    ping_failures: int = 2  # consecutive failed pings before the connection is dropped
    catch_up_on_connect: bool = True  # fetch subscribed topics' history from each new connection
    # Peer scoring (GossipSub v1.1 P4, invalid messages; one point per hard rejection, decayed
    # every heartbeat). Below gossip_threshold a peer gets no IHAVE gossip from us; below
    # graylist_threshold its messages are dropped before validation and it is blacklisted
    # (disconnected, its requests refused) for graylist_seconds.
    score_decay: float = 0.97  # per heartbeat: a penalty halves in ~23 s
    score_cap: float = 10_000.0
    gossip_threshold: float = -10.0
    graylist_threshold: float = -50.0
    graylist_seconds: float = 120.0
