"""Topic validation: every gossip message passes these checks, in this order, before delivery or relay.

oversize -> undecodable -> wrong_version -> bad_schema -> wrong_topic -> bad_signature ->
wrong_task -> signer_mismatch -> unstaked -> duplicate -> rate_limited.

Each rejection increments a counter labelled by reason; nothing here raises to the caller.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from .wire import (
    Envelope,
    Payload,
    WireError,
    decode_envelope,
    decode_payload,
    parse_topic,
    recover_signer,
)

REJECT_REASONS = (
    "oversize",
    "undecodable",
    "wrong_version",
    "bad_schema",
    "wrong_topic",
    "bad_signature",
    "wrong_task",
    "signer_mismatch",
    "unstaked",
    "rate_limited",
    "duplicate",
)


class TokenBucket:
    """Classic token bucket; `take()` is True when a token was available."""

    def __init__(self, rate: float, burst: float, now: float | None = None) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.monotonic() if now is None else now

    def _refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def take(self, now: float | None = None) -> bool:
        self._refill(time.monotonic() if now is None else now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def wait_time(self, now: float | None = None) -> float:
        """Seconds until one token is available (0 if one is available now)."""
        self._refill(time.monotonic() if now is None else now)
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate


class StakeCache:
    """Caches `is_staked(address)`: the chain is slow and the answer changes rarely.

    Every fresh key costs a lookup, and keys are free to make: misses are rate limited (beyond
    `miss_rate`, an unknown signer counts as unstaked for now) and the cache is bounded.
    """

    def __init__(
        self,
        is_staked: Callable[[str], bool],
        ttl: float,
        max_entries: int = 50_000,
        miss_rate: float = 50.0,
        miss_burst: float = 200.0,
    ) -> None:
        self.is_staked = is_staked
        self.ttl = ttl
        self.max_entries = max_entries
        self.misses = TokenBucket(miss_rate, miss_burst)
        self.entries: OrderedDict[str, tuple[bool, float]] = OrderedDict()
        self.lock = threading.Lock()

    def check(self, address: str) -> bool:
        now = time.monotonic()
        with self.lock:
            hit = self.entries.get(address)
            if hit is not None and hit[1] > now:
                return hit[0]
            if not self.misses.take(now):
                return False
        try:
            staked = bool(self.is_staked(address))
        except Exception:
            staked = False  # a chain outage must not let unstaked traffic in
        with self.lock:
            # Negative answers expire sooner so a freshly staked node is heard quickly.
            self.entries[address] = (staked, now + (self.ttl if staked else min(self.ttl, 2.0)))
            self.entries.move_to_end(address)
            while len(self.entries) > self.max_entries:
                self.entries.popitem(last=False)
        return staked


@dataclass(frozen=True)
class Accepted:
    """A message that passed every check."""

    topic: str
    envelope: Envelope
    payload: Payload
    signer: str


class GossipValidator:
    """Stateful validator shared by all topics of one node (thread-safe)."""

    def __init__(
        self,
        is_staked: Callable[[str], bool],
        max_message_bytes: int,
        max_tokens: int,
        sender_rate: float,
        sender_burst: float,
        dedup_entries: int,
        stake_cache_seconds: float,
    ) -> None:
        self.stakes = StakeCache(is_staked, stake_cache_seconds)
        self.max_message_bytes = max_message_bytes
        self.max_tokens = max_tokens
        self.sender_rate = sender_rate
        self.sender_burst = sender_burst
        self.dedup_entries = dedup_entries
        self.buckets: dict[str, TokenBucket] = {}
        self.seen: OrderedDict[tuple, None] = OrderedDict()
        self.rejected: Counter[str] = Counter()
        self.lock = threading.Lock()

    def check(self, topic: str, data: bytes) -> Accepted:
        """Run every check; raise WireError(reason) on the first failure (not counted here)."""
        env = decode_envelope(data, self.max_message_bytes)
        task_id, kind = parse_topic(topic)
        if env.kind != kind:
            raise WireError("wrong_topic", "envelope kind does not match the topic")
        payload = decode_payload(env.kind, env.body, self.max_tokens)
        signer = recover_signer(topic, env)
        if payload.task_id != task_id:
            raise WireError("wrong_task", f"payload task {payload.task_id} sent on task {task_id}'s topic")
        if payload.sender != signer:
            raise WireError("signer_mismatch", "envelope is not signed by the payload's sender")
        if not self.stakes.check(signer):
            raise WireError("unstaked", f"sender {signer} has no stake")
        key = payload.dedup_key()
        with self.lock:
            # Duplicates are checked before spending a rate token so replays cannot drain it.
            if key in self.seen:
                raise WireError("duplicate", "this (task, sender, p, g) was already accepted")
            bucket = self.buckets.get(signer)
            if bucket is None:
                bucket = self.buckets[signer] = TokenBucket(self.sender_rate, self.sender_burst)
            if not bucket.take():
                raise WireError("rate_limited", f"sender {signer} exceeds {self.sender_rate} msg/s")
            self.seen[key] = None
            if len(self.seen) > self.dedup_entries:
                self.seen.popitem(last=False)
        return Accepted(topic, env, payload, signer)

    def check_counted(
        self, topic: str, data: bytes, on_reject: Callable[[str], None], count_duplicates: bool = True
    ) -> Accepted | None:
        """check() that never raises: rejections go to `on_reject(reason)` and return None."""
        try:
            return self.check(topic, data)
        except WireError as err:
            reason = err.reason
        except Exception:  # a bug in a decoder must never take the node down
            reason = "undecodable"
        if reason != "duplicate" or count_duplicates:
            with self.lock:
                self.rejected[reason] += 1
            on_reject(reason)
        return None
