"""py-libp2p's pubsub made lossless: deep per-peer queues, soft-aware scoring, no validation cache, no
32-slot subscription channel (docs/P2P.md, 'Zero loss')."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from google.protobuf.message import DecodeError
from libp2p.peer.id import ID
from libp2p.pubsub.pubsub import Pubsub
from libp2p.pubsub.score import PeerScorer, ScoreParams

log = logging.getLogger("rollproof.p2p")


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
        self.malformed_rpcs = 0

    def notify_subscriptions(self, publish_message: Any) -> None:
        if any(topic in self.topic_ids for topic in publish_message.topicIDs):
            self._sink(publish_message)

    async def continuously_read_stream(self, stream: Any) -> None:
        """py-libp2p 0.8 lets a pubsub RPC that does not parse (DecodeError) escape the read loop, which
        ends the swarm's nursery and so the whole host: one peer's garbled bytes stopped a node (seen
        in tests/p2p/test_hostile.py). Such a peer's stream is reset and the peer dropped instead."""
        try:
            await super().continuously_read_stream(stream)
        except DecodeError as exc:
            peer_id = stream.muxed_conn.peer_id
            self.malformed_rpcs += 1
            log.warning("peer %s sent a pubsub RPC that does not parse (%s); dropping it", peer_id, exc)
            try:
                await stream.reset()
            except Exception:  # noqa: BLE001 - already broken: dropping the peer is what matters
                pass
            self._handle_dead_peer(peer_id)
