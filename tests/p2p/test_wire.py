"""Wire format and validator rules, one cheater per rule (no network)."""

from __future__ import annotations

import os

import cbor2
import pytest
from eth_account import Account

from node.p2p.validation import GossipValidator, TokenBucket
from node.p2p.wire import (
    EvaluationMsg,
    WireError,
    decode_envelope,
    decode_payload,
    encode_payload,
    evaluations_topic,
    parse_topic,
    rollouts_topic,
    sign_envelope,
)
from tests.p2p.helpers import account_key, address, make_rollout, staked_set

TOPIC = rollouts_topic(5)


def validator(**kw) -> GossipValidator:
    args = dict(
        is_staked=staked_set([0, 1, 2]),
        max_message_bytes=64 * 1024,
        max_tokens=4096,
        sender_rate=1000.0,
        sender_burst=1000.0,
        dedup_entries=10_000,
        stake_cache_seconds=30.0,
    )
    args.update(kw)
    return GossipValidator(**args)


def reason_of(v: GossipValidator, topic: str, data: bytes) -> str | None:
    counted: list[str] = []
    accepted = v.check_counted(topic, data, counted.append)
    assert (accepted is None) == bool(counted)
    return counted[0] if counted else None


def test_rollout_roundtrip_is_exact_and_compact():
    r = make_rollout(5, 0, 3, 1)
    body = encode_payload(r)
    back = decode_payload(0, body, 4096)
    assert back == r.__class__(**{**r.__dict__, "logprobs": back.logprobs})
    assert all(abs(a - b) < 1e-6 * max(1.0, abs(a)) for a, b in zip(r.logprobs, back.logprobs, strict=True))
    env = sign_envelope(TOPIC, r, account_key(0))
    assert len(env) < 3000  # 96 prompt + 256 tokens + 256 logprobs
    assert validator().check(TOPIC, env).payload.tokens == r.tokens


def test_evaluation_roundtrip():
    e = EvaluationMsg(5, address(0), 1, 2, 750_000, address(1))
    topic = evaluations_topic(5)
    accepted = validator().check(topic, sign_envelope(topic, e, account_key(1)))
    assert accepted.payload == e and accepted.signer == address(1)


def test_topics_parse_and_reject_garbage():
    assert parse_topic(rollouts_topic(2**200)) == (2**200, 0)
    assert parse_topic(evaluations_topic(0)) == (0, 1)
    for bad in ["/rollproof/2/task/1/rollouts", "/rollproof/1/task/x/rollouts", "/rollproof/1/task/1/other"]:
        with pytest.raises(WireError):
            parse_topic(bad)


def test_each_cheater_breaks_one_rule_and_is_caught():
    v = validator()
    honest = make_rollout(5, 0, 0, 0)
    good = sign_envelope(TOPIC, honest, account_key(0))
    assert reason_of(v, TOPIC, good) is None
    # duplicate: the same (task, miner, p, g) again, even re-signed later
    assert reason_of(v, TOPIC, sign_envelope(TOPIC, honest, account_key(0), sent_ms=1)) == "duplicate"
    # oversize
    assert reason_of(v, TOPIC, good + b"\x00" * (64 * 1024)) == "oversize"
    # undecodable random bytes
    assert reason_of(v, TOPIC, os.urandom(300) + b"\xff") in {"undecodable", "bad_schema", "wrong_version"}
    assert reason_of(v, TOPIC, b"\xff\xff\xff") == "undecodable"
    # wrong version
    fields = cbor2.loads(good)
    assert reason_of(v, TOPIC, cbor2.dumps([2, *fields[1:]])) == "wrong_version"
    # bad schema: logprobs of a different length than tokens
    r = make_rollout(5, 0, 1, 0)
    body = cbor2.loads(encode_payload(r))
    body[6] = body[6][:-4]
    forged = cbor2.dumps([1, 0, fields[2], cbor2.dumps(body), fields[4]])
    assert reason_of(v, TOPIC, forged) == "bad_schema"
    # tampered tokens under the original signature: recovers to some other address
    tampered = honest.__class__(**{**honest.__dict__, "p": 3, "tokens": (1,) * len(honest.tokens)})
    sig_broken = cbor2.dumps([1, 0, fields[2], encode_payload(tampered), fields[4]])
    assert reason_of(v, TOPIC, sig_broken) == "signer_mismatch"
    garbage_sig = cbor2.dumps([1, 0, fields[2], fields[3], b"\x00" * 65])
    assert reason_of(v, TOPIC, garbage_sig) == "bad_signature"
    # forged sender: miner 1 signs a rollout claiming to be miner 0's
    assert (
        reason_of(v, TOPIC, sign_envelope(TOPIC, make_rollout(5, 0, 2, 0), account_key(1)))
        == "signer_mismatch"
    )
    # unstaked sender, validly signed
    assert reason_of(v, TOPIC, sign_envelope(TOPIC, make_rollout(5, 7, 0, 0), account_key(7))) == "unstaked"
    # wrong task: task 6's rollout on task 5's topic (and cross-topic replay fails the signature)
    other = sign_envelope(rollouts_topic(6), make_rollout(6, 0, 0, 0), account_key(0))
    assert reason_of(v, TOPIC, other) in {"wrong_task", "signer_mismatch"}
    wrong_task = sign_envelope(TOPIC, make_rollout(6, 0, 0, 0), account_key(0))
    assert reason_of(v, TOPIC, wrong_task) == "wrong_task"
    # wrong topic kind: an evaluation envelope on the rollouts topic
    ev = sign_envelope(TOPIC, EvaluationMsg(5, address(0), 0, 0, 1, address(1)), account_key(1))
    assert reason_of(v, TOPIC, ev) == "wrong_topic"
    assert v.rejected["duplicate"] == 1 and v.rejected["unstaked"] == 1
    # honest traffic still passes after all that
    assert reason_of(v, TOPIC, sign_envelope(TOPIC, make_rollout(5, 0, 9, 0), account_key(0))) is None


def test_flooding_sender_is_rate_limited_but_others_are_not():
    v = validator(sender_rate=5.0, sender_burst=10.0)
    reasons = [
        reason_of(v, TOPIC, sign_envelope(TOPIC, make_rollout(5, 1, p, 0), account_key(1))) for p in range(40)
    ]
    assert reasons.count(None) >= 10 and reasons.count("rate_limited") >= 25
    assert reason_of(v, TOPIC, sign_envelope(TOPIC, make_rollout(5, 0, 0, 0), account_key(0))) is None


def test_stake_oracle_failure_fails_closed():
    def broken(addr: str) -> bool:
        raise ConnectionError("rpc down")

    v = validator(is_staked=broken)
    assert reason_of(v, TOPIC, sign_envelope(TOPIC, make_rollout(5, 0, 0, 0), account_key(0))) == "unstaked"


def test_fresh_key_flood_is_capped_at_the_stake_oracle():
    lookups: list[str] = []

    def oracle(addr: str) -> bool:
        lookups.append(addr)
        return False

    v = validator(is_staked=oracle)
    v.stakes.misses = TokenBucket(rate=1.0, burst=5.0)
    for i in range(30):
        assert (
            reason_of(v, TOPIC, sign_envelope(TOPIC, make_rollout(5, 100 + i, 0, 0), account_key(100 + i)))
            == "unstaked"
        )
    assert 5 <= len(lookups) <= 8  # the rest were refused without asking the chain


def test_schema_limits():
    with pytest.raises(WireError) as err:
        decode_envelope(b"\x00" * 10, max_bytes=5)
    assert err.value.reason == "oversize"
    r = make_rollout(5, 0, 0, 0, n_tokens=100)
    with pytest.raises(WireError) as err:
        decode_payload(0, encode_payload(r), max_tokens=50)
    assert err.value.reason == "bad_schema"
    bad = r.__class__(**{**r.__dict__, "logprobs": (float("nan"),) * 100})
    with pytest.raises(WireError):
        decode_payload(0, encode_payload(bad), max_tokens=4096)
    assert Account.from_key(account_key(0)).address == address(0)


def test_token_bucket_refills():
    b = TokenBucket(rate=10.0, burst=2.0, now=0.0)
    assert b.take(0.0) and b.take(0.0) and not b.take(0.0)
    assert abs(b.wait_time(0.0) - 0.1) < 1e-9
    assert b.take(0.1)
