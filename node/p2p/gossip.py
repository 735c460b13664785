"""Gossip of P2PNode: subscribe, validate, dispatch to handlers in arrival order, publish with per-peer
backpressure."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import trio
from libp2p.peer.id import ID

from .common import (
    Handler,
    Received,
)
from .validation import SOFT_REASONS
from .wire import KIND_NAMES, Payload, sign_envelope

log = logging.getLogger("rollproof.p2p")


class Gossip:
    """Mixin of P2PNode (node/p2p/host.py holds the state it uses)."""

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
