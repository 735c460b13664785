"""A connected peer whose pubsub stream failed to open is repaired, not left deaf.

py-libp2p opens the outbound pubsub stream once per connection and gives up when the protocol
negotiation fails (StreamFailure is not among the errors it retries). The other side then never
hears our subscriptions, so it never sends us the topic, over a connection that is otherwise
healthy (seen as an intermittent failure of test_gossip_hardening.py). Here the negotiation is
made to fail for real: the receiver stops answering the gossipsub protocols while the sender
connects, then answers again; the sender's keepalive loop must open the stream."""

from __future__ import annotations

import time

import pytest

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
TASK = 31
TOPIC = rollouts_topic(TASK)


def test_a_failed_pubsub_stream_is_reopened_and_messages_flow():
    staked = staked_set([0, 1])
    receiver = P2PNode(local_config(ping_interval=1.0), account_key(0), staked, identity_secret(0))
    receiver.start()
    sender = None
    try:
        got, on_msg = collector()
        receiver.subscribe(TOPIC, on_msg)
        mux = receiver.host.get_mux()
        protocols = list(receiver.pubsub.protocols)
        handlers = {p: mux.handlers[p] for p in protocols}

        def stop_answering() -> None:
            for p in protocols:
                mux.remove_handler(p)

        def answer_again() -> None:
            for p, h in handlers.items():
                mux.add_handler(p, h)

        receiver._call_sync(stop_answering)
        sender = P2PNode(
            local_config(bootstrap=receiver.listen_addrs, ping_interval=1.0),
            account_key(1),
            staked,
            identity_secret(1),
        )
        sender.start()
        sender.subscribe(TOPIC, lambda m: None)
        receiver_id = receiver.host.get_id()
        assert poll(lambda: receiver_id in sender.host.get_connected_peers(), 30), "connected"
        # The library's one attempt and the first repairs fail; the sender stays connected.
        time.sleep(3)
        assert receiver_id not in sender.pubsub.peers
        assert receiver_id in sender.host.get_connected_peers()

        receiver._call_sync(answer_again)
        assert poll(lambda: receiver_id in sender.pubsub.peers, 60), "the sender reopened its stream"
        assert sender.stats()["pubsub_streams_repaired"] >= 1
        assert receiver.wait_for_topic_peers(TOPIC, 1, 60), "the receiver hears the sender's subscription"

        # GossipSub sends a subscribed topic's messages to mesh peers only, and the repaired peer joins the
        # mesh at a heartbeat: publishing before it would drop them (seen under a loaded full suite: 3 of 5).
        def in_mesh() -> bool:
            return receiver_id in sender._call_sync(lambda: set(sender.pubsub.router.mesh.get(TOPIC, ())))

        assert poll(in_mesh, 60), "the sender grafts the repaired peer into its mesh"
        for p in range(5):
            sender.publish(TOPIC, make_rollout(TASK, 1, p, 0, n_tokens=16))
        assert poll(lambda: len(got) == 5, 60), f"delivered {len(got)} of 5"
    finally:
        if sender is not None:
            sender.stop()
        receiver.stop()
