"""Gossip that no flood can turn against honest senders: one cheater per rule, each caught.

- every field checked against the task before relay or storage (out_of_task, unknown_task, not_joined);
- stakers known from chain events: an unstaked flood of fresh keys costs no stake lookup at all;
- equivocation remembered for the task's life (beyond the dedup bound), forgotten with the task;
- peer scoring with real thresholds: a junk forwarder is graylisted, an honest relay of a staked
  flood (rate-limited, a soft reason) is not;
- signed address records: a record for someone else's peer id is refused.
"""

from __future__ import annotations

import json
import time

import cbor2
import pytest
from eth_account import Account

from node.p2p import (
    P2PNode,
    RecordError,
    StakerIndex,
    add_deployment_bootstrap,
    deployment_bootstrap,
    open_address_record,
    rollouts_topic,
    seal_address_record,
    sign_envelope,
)
from node.p2p.discovery import advertised_addrs, dialable
from node.p2p.identity import key_pair_from_secret
from node.p2p.validation import GossipValidator
from node.p2p.wire import WireError
from tests.p2p.helpers import (
    account_key,
    address,
    collector,
    identity_secret,
    local_config,
    make_rollout,
    staked_set,
)

pytestmark = pytest.mark.timeout(180)
TASK = 31
TOPIC = rollouts_topic(TASK)


def index_for(
    miners: list[int], joined: list[int], p: int = 2, g: int = 2, max_tokens: int = 64
) -> StakerIndex:
    index = StakerIndex()
    for i in miners:
        index.set_staked(address(i), 0, True)
    index.add_task(TASK, p, g, max_tokens)
    index.add_joined(TASK, [address(i) for i in joined])
    return index


def validator_for(index: StakerIndex, dedup: int = 1000) -> GossipValidator:
    return GossipValidator(index, 256 * 1024, 16384, 1000.0, 1000.0, dedup, 30.0, index.rules)


def reason(v: GossipValidator, data: bytes, topic: str = TOPIC) -> str | None:
    try:
        v.check(topic, data)
    except WireError as err:
        return err.reason
    return None


def signed(miner: int, p: int = 0, g: int = 0, n_tokens: int = 16, task: int = TASK, **kw) -> bytes:
    return sign_envelope(
        rollouts_topic(task), make_rollout(task, miner, p, g, n_tokens=n_tokens, **kw), account_key(miner)
    )


def test_fields_are_checked_against_the_task_before_signature_work():
    v = validator_for(index_for([0, 1], joined=[0]))
    assert reason(v, signed(0)) is None
    assert reason(v, signed(0, p=2)) == "out_of_task"  # P = 2
    assert reason(v, signed(0, g=5)) == "out_of_task"  # G = 2
    assert reason(v, signed(0, p=1, n_tokens=65)) == "out_of_task"  # max_tokens = 64
    # an unknown task is not stored or relayed
    assert reason(v, signed(0, task=TASK + 1), rollouts_topic(TASK + 1)) == "unknown_task"
    # out_of_task needs no valid signature: it is refused before any ECDSA
    fields = cbor2.loads(signed(0, p=7))
    assert reason(v, cbor2.dumps([*fields[:4], b"\x00" * 65])) == "out_of_task"
    # a staked miner that did not join the task is refused
    assert reason(v, signed(1, p=1)) == "not_joined"


def test_unstaked_flood_of_fresh_keys_costs_no_stake_lookup():
    lookups = []
    index = index_for([0], joined=[0])
    v = validator_for(index)
    assert v.is_staked is index  # a local index is asked directly: no cache, no chain

    def chain_lookup(addr: str) -> bool:
        lookups.append(addr)
        return False

    remote = GossipValidator(chain_lookup, 256 * 1024, 16384, 1000.0, 1000.0, 1000, 30.0, index.rules)
    fresh = [Account.create() for _ in range(300)]
    started = time.monotonic()
    for acct in fresh:
        index.add_joined(TASK, [acct.address])  # even a "joined" fresh key: no stake, no entry
        msg = make_rollout(TASK, 0, 0, 0, n_tokens=8)
        data = sign_envelope(TOPIC, type(msg)(**{**msg.__dict__, "miner": acct.address}), acct.key)
        assert reason(v, data) == "unstaked"
        assert reason(remote, data) == "unstaked"
    # A per-message chain lookup would cost one call per fresh key; the remote cache's miss
    # limiter caps that at its burst + rate; the event-fed index costs none at all.
    assert len(lookups) <= 200 + 50 * (time.monotonic() - started) + 1
    assert reason(v, signed(0)) is None  # the honest staked miner still gets through


def test_equivocation_is_remembered_for_the_task_life_and_forgotten_with_it():
    index = index_for([0, 1], joined=[0, 1], p=100, g=4)
    v = validator_for(index, dedup=10)  # a tiny dedup bound: task memory must not depend on it
    first = signed(0, p=0, g=0)
    assert reason(v, first) is None
    for p in range(1, 60):  # far more keys than the dedup bound
        assert reason(v, signed(1, p=p)) is None
    assert reason(v, first) == "duplicate"  # the very same message again
    other = sign_envelope(TOPIC, make_rollout(TASK, 0, 0, 0, n_tokens=17), account_key(0))
    assert reason(v, other) == "equivocation"  # a different rollout for the same (p, g)
    assert address(0) in v.equivocators(TOPIC)
    assert reason(v, signed(0, p=5)) == "equivocator"  # nothing more is taken from it
    v.forget_topic(TOPIC)  # the task is over for this node
    assert reason(v, signed(0, p=5)) is None


def test_signed_address_records_and_the_deployment_bootstrap(tmp_path):
    kp = key_pair_from_secret(identity_secret(0))
    record = open_address_record(seal_address_record(kp, ["/ip4/10.0.0.1/tcp/4001"]))
    assert record.dial_addrs() == [f"/ip4/10.0.0.1/tcp/4001/p2p/{record.peer_id}"]
    # a record whose signature does not match its content is refused
    data = bytearray(seal_address_record(kp, ["/ip4/10.0.0.1/tcp/4001"]))
    data[-5] ^= 1
    with pytest.raises(RecordError):
        open_address_record(bytes(data))
    with pytest.raises(RecordError, match="dialable"):
        open_address_record(seal_address_record(kp, ["/ip4/0.0.0.0/tcp/4001"]))
    with pytest.raises(RecordError):
        open_address_record(b"\x00" * 5000)
    assert not dialable("/ip4/10.0.0.1/tcp/0") and dialable("/dns/node.example/tcp/4001")
    assert advertised_addrs(["/ip4/1.2.3.4/tcp/9"], ["/ip4/5.6.7.8/tcp/4001"]) == ["/ip4/5.6.7.8/tcp/4001"]
    expanded = advertised_addrs(["/ip4/0.0.0.0/tcp/4001/p2p/x"], [])
    assert expanded and all(a.endswith("/tcp/4001") and "0.0.0.0" not in a for a in expanded)
    dep = tmp_path / "deployment.json"
    dep.write_text(json.dumps({"version": 1, "extra": {}}))
    boot = f"/ip4/10.0.0.1/tcp/4001/p2p/{record.peer_id}"
    add_deployment_bootstrap(dep, [boot])
    assert deployment_bootstrap(dep) == [boot]
    with pytest.raises(RecordError):
        add_deployment_bootstrap(dep, ["/ip4/10.0.0.1/tcp/4001"])  # no peer id


def test_junk_forwarder_is_graylisted_and_honest_relay_of_a_flood_is_not():
    staked = staked_set([0, 1, 9])
    cfg = {"gossip_threshold": -5.0, "graylist_threshold": -10.0, "ping_interval": 0.5, "sender_rate": 5.0}
    victim = P2PNode(local_config(**cfg), account_key(0), staked, identity_secret(0)).start()
    nodes = [victim]
    try:
        honest = P2PNode(
            local_config(bootstrap=victim.listen_addrs, publish_rate=5.0, **{**cfg, "sender_rate": 1e6}),
            account_key(1),
            staked,
            identity_secret(1),
        ).start()
        attacker = P2PNode(
            local_config(bootstrap=victim.listen_addrs, publish_rate=5000.0),
            account_key(9),
            staked,
            identity_secret(9),
        ).start()
        nodes += [honest, attacker]
        got, on_msg = collector()
        victim.subscribe(TOPIC, on_msg)
        honest.subscribe(TOPIC, lambda m: None)
        attacker.subscribe(TOPIC, lambda m: None)
        assert victim.wait_for_topic_peers(TOPIC, 2, 60)
        # A staked flood (valid messages, beyond the victim's 5/s sender rate) that the honest
        # node relays too: rate_limited is soft, the honest relay keeps its score.
        for p in range(60):
            attacker.publish_envelope(TOPIC, signed(9, p=p, n_tokens=8), check=False)
        # Then junk only the attacker sends: each is a hard rejection against it.
        good = cbor2.loads(signed(9, p=999))
        for k in range(30):
            attacker.publish_envelope(
                TOPIC, cbor2.dumps([1, 0, good[2] + k, good[3], b"\x01" * 65]), check=False
            )
        deadline = time.monotonic() + 60
        while (
            attacker.peer_id.to_base58() not in victim.stats()["graylisted"] and time.monotonic() < deadline
        ):
            time.sleep(0.2)
        stats = victim.stats()
        assert attacker.peer_id.to_base58() in stats["graylisted"], stats
        assert honest.peer_id.to_base58() not in stats["graylisted"]
        assert victim.peer_score(honest.peer_id.to_base58()) >= 0
        # The honest sender is still heard.
        for p in range(5):
            honest.publish(TOPIC, make_rollout(TASK, 1, p, 0))
        deadline = time.monotonic() + 60
        while sum(1 for m in got if m.signer == honest.account.address) < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sorted(m.payload.p for m in got if m.signer == honest.account.address) == list(range(5))
    finally:
        for node in reversed(nodes):
            node.stop()
