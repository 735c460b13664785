"""Topic validation: every gossip message passes these checks, in this order, before delivery or relay.

oversize -> undecodable -> wrong_version -> bad_schema -> wrong_topic -> wrong_task ->
unknown_task -> out_of_task -> bad_signature -> signer_mismatch -> unstaked -> not_joined ->
equivocator -> duplicate | equivocation -> rate_limited.

Cheap checks run first, so junk costs no signature recovery. Each rejection increments a counter
labelled by reason; nothing here raises to the caller. Reasons in SOFT_REASONS say nothing bad
about the peer that forwarded the message (an honest relay can forward a message we already have,
or that we cannot place yet), so they do not lower its GossipSub score; every other reason does.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from eth_hash.auto import keccak

from .wire import (
    Envelope,
    EvaluationMsg,
    Payload,
    RolloutMsg,
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
    "wrong_task",
    "unknown_task",
    "out_of_task",
    "bad_signature",
    "signer_mismatch",
    "unstaked",
    "not_joined",
    "equivocator",
    "equivocation",
    "rate_limited",
    "duplicate",
)
# Rejections that an honest forwarder can cause (we already hold the message, our view of the chain
# lags theirs, or a staked sender exceeded its rate): the message is dropped, its forwarder is not
# penalised. All other reasons are things every honest node checks before relaying.
SOFT_REASONS = frozenset({"duplicate", "rate_limited", "unknown_task", "not_joined", "equivocation"})


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


@dataclass(frozen=True)
class TaskRules:
    """What a task allows on its topics, from the chain (TaskBoard parameters, Joined events).

    `is_miner(address)`: joined the task; `is_evaluator(address)`: staked as an evaluator. Both
    must be local lookups (an index fed by chain events): they run for every message.
    """

    num_problems: int
    rollouts_per_problem: int
    max_tokens: int
    max_prompt_tokens: int = 16384
    is_miner: Callable[[str], bool] | None = None
    is_evaluator: Callable[[str], bool] | None = None


def check_against_task(payload: Payload, rules: TaskRules) -> None:
    """Every payload field that the task bounds, before any signature work (WireError out_of_task)."""
    if not (payload.p < rules.num_problems and payload.g < rules.rollouts_per_problem):
        raise WireError(
            "out_of_task",
            f"rollout ({payload.p}, {payload.g}) is outside the task's "
            f"{rules.num_problems} x {rules.rollouts_per_problem}",
        )
    if isinstance(payload, RolloutMsg):
        if len(payload.tokens) > rules.max_tokens:
            raise WireError(
                "out_of_task", f"{len(payload.tokens)} completion tokens exceed the task's {rules.max_tokens}"
            )
        if not payload.prompt_ids or len(payload.prompt_ids) > rules.max_prompt_tokens:
            raise WireError(
                "out_of_task", f"a rollout's prompt must hold 1 to {rules.max_prompt_tokens} tokens"
            )


def check_membership(payload: Payload, signer: str, rules: TaskRules) -> None:
    """The sender takes part in the task: a miner that joined it, an evaluator scoring a joined miner."""
    if isinstance(payload, EvaluationMsg) and rules.is_evaluator is not None:
        if not rules.is_evaluator(signer):
            raise WireError("not_joined", f"{signer} is not a staked evaluator")
    if rules.is_miner is not None and not rules.is_miner(payload.miner):
        raise WireError("not_joined", f"miner {payload.miner} did not join task {payload.task_id}")


@dataclass
class TopicMemory:
    """What one topic accepted, kept for the task's life (dropped only by forget_topic).

    `seen` maps each dedup key to keccak(body): a second, different body under the same key is an
    equivocation, and its signer stays an `equivocator` on this topic from then on. `envelopes`
    holds keccak(envelope bytes) of everything accepted, so history pages re-fetched during repair
    cost a hash, not a signature recovery.
    """

    seen: dict[tuple, bytes] = field(default_factory=dict)
    envelopes: set[bytes] = field(default_factory=set)
    equivocators: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)  # signer -> both bodies


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
        task_rules: Callable[[int], TaskRules | None] | None = None,
    ) -> None:
        # A local index (StakerIndex, fed by chain events) is asked directly; any other callable
        # is assumed to be a remote lookup and goes through the bounded, rate-limited cache.
        local = getattr(is_staked, "local", False)
        self.stakes = None if local else StakeCache(is_staked, stake_cache_seconds)
        self.is_staked = is_staked if local else self.stakes.check
        self.task_rules = task_rules
        self.max_message_bytes = max_message_bytes
        self.max_tokens = max_tokens
        self.sender_rate = sender_rate
        self.sender_burst = sender_burst
        self.dedup_entries = dedup_entries
        self.buckets: dict[str, TokenBucket] = {}
        self.topics: OrderedDict[str, TopicMemory] = OrderedDict()
        self.rejected: Counter[str] = Counter()
        self.lock = threading.Lock()

    def memory(self, topic: str) -> TopicMemory:
        mem = self.topics.get(topic)
        if mem is None:
            mem = self.topics[topic] = TopicMemory()
        return mem

    def forget_topic(self, topic: str) -> None:
        """The task is over for this node: drop its dedup keys, envelope hashes and equivocators."""
        with self.lock:
            self.topics.pop(topic, None)

    def known_envelope(self, topic: str, data: bytes) -> bool:
        """True when these exact envelope bytes were accepted before (no signature work)."""
        digest = keccak(data)
        with self.lock:
            mem = self.topics.get(topic)
            return mem is not None and digest in mem.envelopes

    def equivocators(self, topic: str) -> dict[str, tuple[bytes, bytes]]:
        with self.lock:
            mem = self.topics.get(topic)
            return dict(mem.equivocators) if mem else {}

    def check(self, topic: str, data: bytes) -> Accepted:
        """Run every check; raise WireError(reason) on the first failure (not counted here)."""
        env = decode_envelope(data, self.max_message_bytes)
        task_id, kind = parse_topic(topic)
        if env.kind != kind:
            raise WireError("wrong_topic", "envelope kind does not match the topic")
        payload = decode_payload(env.kind, env.body, self.max_tokens)
        if payload.task_id != task_id:
            raise WireError("wrong_task", f"payload task {payload.task_id} sent on task {task_id}'s topic")
        rules = None
        if self.task_rules is not None:
            rules = self.task_rules(task_id)
            if rules is None:
                raise WireError("unknown_task", f"task {task_id} is not known to this node")
            check_against_task(payload, rules)
        signer = recover_signer(topic, env)
        if payload.sender != signer:
            raise WireError("signer_mismatch", "envelope is not signed by the payload's sender")
        if not self.is_staked(signer):
            raise WireError("unstaked", f"sender {signer} has no stake")
        if rules is not None:
            check_membership(payload, signer, rules)
        key = payload.dedup_key()
        body_hash = keccak(env.body)
        with self.lock:
            mem = self.memory(topic)
            if signer in mem.equivocators:
                raise WireError("equivocator", f"{signer} equivocated on this task; nothing more is taken")
            # Duplicates are checked before spending a rate token so replays cannot drain it.
            earlier = mem.seen.get(key)
            if earlier is not None:
                if earlier == body_hash:
                    raise WireError("duplicate", "this (task, sender, p, g) was already accepted")
                mem.equivocators[signer] = (earlier, body_hash)
                raise WireError("equivocation", f"{signer} sent two different messages for {key[1:]}")
            bucket = self.buckets.get(signer)
            if bucket is None:
                bucket = self.buckets[signer] = TokenBucket(self.sender_rate, self.sender_burst)
            if not bucket.take():
                raise WireError("rate_limited", f"sender {signer} exceeds {self.sender_rate} msg/s")
            mem.seen[key] = body_hash
            mem.envelopes.add(keccak(data))
            self._bound_memory(topic, rules is not None)
        return Accepted(topic, env, payload, signer)

    def _bound_memory(self, topic: str, bounded_by_task: bool) -> None:
        """Keys are bounded by the task (staked senders x P x G) when rules are known; without
        rules (tests, benches) the oldest topics are dropped beyond `dedup_entries` keys."""
        self.topics.move_to_end(topic)
        if bounded_by_task:
            return
        while sum(len(m.seen) for m in self.topics.values()) > self.dedup_entries and len(self.topics) > 1:
            self.topics.popitem(last=False)
        mem = self.topics[topic]
        while len(mem.seen) > self.dedup_entries:
            mem.seen.pop(next(iter(mem.seen)))

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
