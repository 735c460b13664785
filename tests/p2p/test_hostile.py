"""Hostile peers on a real libp2p network: every bad message is rejected and counted, honest traffic flows."""

from __future__ import annotations

import os
import time

import cbor2
import pytest

from node.p2p import P2PNode, rollouts_topic, sign_envelope
from tests.p2p.helpers import (
    account_key,
    collector,
    identity_secret,
    local_config,
    make_rollout,
    poll,
    staked_set,
)

pytestmark = pytest.mark.timeout(300)
TASK = 21
TOPIC = rollouts_topic(TASK)
SENDER_RATE, SENDER_BURST = 5.0, 20.0


def test_hostile_inputs_rejected_counted_and_honest_traffic_delivered():
    staked = staked_set([0, 1, 9])  # 9 is the attacker's (staked) key; 8 is unstaked
    victim = P2PNode(
        local_config(sender_rate=SENDER_RATE, sender_burst=SENDER_BURST),
        account_key(0),
        staked,
        identity_secret(0),
    )
    victim.start()
    honest = attacker = None
    try:
        honest = P2PNode(
            local_config(bootstrap=victim.listen_addrs, publish_rate=SENDER_RATE),
            account_key(1),
            staked,
            identity_secret(1),
        )
        attacker = P2PNode(
            local_config(bootstrap=victim.listen_addrs, publish_rate=5000.0),
            account_key(9),
            staked,
            identity_secret(9),
        )
        honest.start()
        attacker.start()
        got, on_msg = collector()
        victim.subscribe(TOPIC, on_msg)
        honest.subscribe(TOPIC, lambda m: None)
        attacker.subscribe(TOPIC, lambda m: None)
        assert victim.wait_for_topic_peers(TOPIC, 2, 60)
        assert attacker.wait_for_topic_peers(TOPIC, 1, 60)

        good = sign_envelope(TOPIC, make_rollout(TASK, 9, 0, 0), account_key(9))
        fields = cbor2.loads(good)
        hostile = {
            "undecodable": [os.urandom(200) + b"\xff" for _ in range(3)],
            "oversize": [b"\x00" * (300 * 1024)],
            "wrong_version": [cbor2.dumps([7, *fields[1:]])],
            "bad_signature": [cbor2.dumps([1, 0, fields[2], fields[3], b"\x00" * 65])],
            "signer_mismatch": [sign_envelope(TOPIC, make_rollout(TASK, 1, 99, 0), account_key(9))],
            "unstaked": [sign_envelope(TOPIC, make_rollout(TASK, 8, 0, 0), account_key(8))],
            "wrong_task": [sign_envelope(TOPIC, make_rollout(TASK + 1, 9, 0, 0), account_key(9))],
        }
        for batch in hostile.values():
            for data in batch:
                attacker.publish_envelope(TOPIC, data, check=False)
        # duplicate: the valid message, then a replay of the same rollout re-signed
        attacker.publish_envelope(TOPIC, good, check=False)
        attacker.publish_envelope(
            TOPIC, sign_envelope(TOPIC, make_rollout(TASK, 9, 0, 0), account_key(9), sent_ms=5), check=False
        )
        flood_start = time.monotonic()
        # flood: 200 validly signed rollouts from the one staked attacker, as fast as it can
        flood = [
            sign_envelope(TOPIC, make_rollout(TASK, 9, p, 0, n_tokens=16), account_key(9))
            for p in range(1, 201)
        ]
        for data in flood:
            attacker.publish_envelope(TOPIC, data, check=False)
        # meanwhile, honest traffic at a normal pace
        for p in range(30):
            honest.publish(TOPIC, make_rollout(TASK, 1, p, 0))

        expected_reasons = set(hostile) | {"duplicate", "rate_limited"}
        assert poll(lambda: expected_reasons <= set(victim.stats()["rejected"]), 120), str(victim.stats())
        assert poll(lambda: sum(1 for m in got if m.signer == honest.account.address) == 30, 120), (
            victim.stats(),
            honest.stats(),
        )
        stats = victim.stats()
        flood_seconds = time.monotonic() - flood_start
        rejected = stats["rejected"]
        for reason, batch in hostile.items():
            # py-libp2p's own caches may absorb a repeat, never let one through
            assert 1 <= rejected[reason] <= len(batch), (reason, rejected)
        # the attacker's valid rollouts beyond its bucket (burst + rate x elapsed) are all refused
        allowed = SENDER_BURST + SENDER_RATE * flood_seconds + 1
        assert rejected["rate_limited"] >= 201 - allowed, (rejected, flood_seconds)
        honest_keys = sorted(m.payload.p for m in got if m.signer == honest.account.address)
        assert honest_keys == list(range(30))
        from_attacker = [m for m in got if m.signer == attacker.account.address]
        # at most the sender bucket's burst plus refill got through, and never a duplicate (p, g)
        assert len(from_attacker) <= allowed
        assert len({m.payload.p for m in from_attacker}) == len(from_attacker)
        assert stats["outbound_dropped"] == 0
        victim.unsubscribe(TOPIC)
        assert TOPIC not in victim.stats()["topics"] and TOPIC not in victim.history
        print(f"\nvictim rejected {rejected}; accepted {len(from_attacker)} of 201 attacker rollouts")
    finally:
        for node in (attacker, honest, victim):
            if node is not None:
                node.stop()
