"""A peer that writes bytes which do not parse as a pubsub RPC on the gossipsub protocol must not stop the
node it writes to: py-libp2p 0.8 let the DecodeError end the swarm (seen under the flood of
test_hostile.py); the node now drops that peer's stream and keeps delivering honest traffic."""

from __future__ import annotations

import pytest
from libp2p.utils import encode_varint_prefixed

from node.p2p import P2PNode, rollouts_topic
from tests.p2p.helpers import (
    account_key,
    collector,
    identity_secret,
    local_config,
    make_rollout,
    poll,
    staked_set,
)

pytestmark = pytest.mark.timeout(180)
TASK = 23
TOPIC = rollouts_topic(TASK)
# Field 1 (subscriptions), length-delimited, declaring far more bytes than follow: never parses.
GARBLED = b"\x0a\xff\xff\xff\x0f\x01\x02"


def test_a_garbled_pubsub_rpc_drops_the_peer_not_the_node():
    staked = staked_set([0, 1])
    victim = P2PNode(local_config(), account_key(0), staked, identity_secret(0))
    victim.start()
    garbler = honest = None
    try:
        garbler = P2PNode(
            local_config(bootstrap=victim.listen_addrs), account_key(9), staked, identity_secret(9)
        )
        garbler.start()
        got, on_msg = collector()
        victim.subscribe(TOPIC, on_msg)
        garbler.subscribe(TOPIC, lambda m: None)
        assert victim.wait_for_topic_peers(TOPIC, 1, 60)
        protocols = list(victim.pubsub.protocols)
        victim_id = victim.host.get_id()

        async def garble() -> None:
            stream = await garbler.host.new_stream(victim_id, protocols)
            await stream.write(encode_varint_prefixed(GARBLED))

        garbler._call(garble)
        assert poll(lambda: victim.pubsub.malformed_rpcs >= 1), "the garbled RPC was read and counted"

        # The victim is still a working node: an honest peer joins and its rollouts arrive.
        honest = P2PNode(
            local_config(bootstrap=victim.listen_addrs), account_key(1), staked, identity_secret(1)
        )
        honest.start()
        honest.subscribe(TOPIC, lambda m: None)
        assert honest.wait_for_topic_peers(TOPIC, 1, 60)
        for p in range(5):
            honest.publish(TOPIC, make_rollout(TASK, 1, p, 0, n_tokens=16))
        assert poll(lambda: len(got) >= 5), f"honest rollouts delivered after the garbled RPC: {len(got)}"
    finally:
        for node in (honest, garbler, victim):
            if node is not None:
                node.stop()
