"""Gossip wire format (PROTOCOL.md §8): topics, payload schemas, signed envelopes, CBOR (RFC 8949).

Every gossip message is one CBOR array, the *envelope*:

    [version=1, kind, sent_ms, body, signature]

`body` is the canonical CBOR encoding of the payload array (rollout or evaluation), `signature`
is a 65-byte EIP-191 (`personal_sign`) signature by the sender's staked Ethereum key over
`gossip_digest(topic, version, kind, sent_ms, body)`. Binding the topic stops cross-task and
cross-topic replays; the signer is recovered, never sent.
"""

from __future__ import annotations

import math
import struct
import time
from dataclasses import dataclass
from typing import Final

import cbor2
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_hash.auto import keccak
from eth_utils import to_checksum_address

WIRE_VERSION: Final = 1
KIND_ROLLOUT: Final = 0
KIND_EVALUATION: Final = 1
KIND_NAMES: Final = {KIND_ROLLOUT: "rollouts", KIND_EVALUATION: "evaluations"}
TOPIC_PREFIX: Final = "/rollproof/1/task/"
GOSSIP_DOMAIN: Final = b"rollproof.gossip.v1"
UINT256_MAX: Final = 2**256 - 1
UINT64_MAX: Final = 2**64 - 1
UINT32_MAX: Final = 2**32 - 1
SCORE_ONE: Final = 1_000_000  # rewards and scores are fixed point with 6 decimals (PROTOCOL.md)


class WireError(ValueError):
    """Raised for any malformed gossip bytes; `reason` is the rejection counter label."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def rollouts_topic(task_id: int) -> str:
    return f"{TOPIC_PREFIX}{task_id}/rollouts"


def evaluations_topic(task_id: int) -> str:
    return f"{TOPIC_PREFIX}{task_id}/evaluations"


def parse_topic(topic: str) -> tuple[int, int]:
    """Return (task_id, kind) of a Rollproof topic, or raise WireError."""
    if not topic.startswith(TOPIC_PREFIX):
        raise WireError("wrong_topic", f"topic {topic!r} is not a Rollproof v1 topic")
    rest = topic[len(TOPIC_PREFIX) :].split("/")
    if len(rest) != 2 or not rest[0].isdigit() or len(rest[0]) > 78:
        raise WireError("wrong_topic", f"topic {topic!r} is not /rollproof/1/task/<id>/<kind>")
    kinds = {name: kind for kind, name in KIND_NAMES.items()}
    if rest[1] not in kinds:
        raise WireError("wrong_topic", f"topic {topic!r} has unknown kind {rest[1]!r}")
    task_id = int(rest[0])
    if task_id > UINT256_MAX:
        raise WireError("wrong_topic", f"topic {topic!r} has a task id above uint256")
    return task_id, kinds[rest[1]]


@dataclass(frozen=True)
class RolloutMsg:
    """One rollout (p, g) of a miner for a task; token arrays are uint32, logprobs float32."""

    task_id: int
    miner: str  # checksummed 0x address
    p: int
    g: int
    prompt_ids: tuple[int, ...]
    tokens: tuple[int, ...]
    logprobs: tuple[float, ...]  # float32 values (rounded on encode)
    claimed_reward: int  # 6-decimal fixed point, 0..1_000_000

    @property
    def sender(self) -> str:
        return self.miner

    def dedup_key(self) -> tuple:
        return (KIND_ROLLOUT, self.task_id, self.miner, self.p, self.g)


@dataclass(frozen=True)
class EvaluationMsg:
    """An evaluator's score of a miner's rollout (p, g)."""

    task_id: int
    miner: str
    p: int
    g: int
    score: int  # 6-decimal fixed point, 0..1_000_000
    evaluator: str

    @property
    def sender(self) -> str:
        return self.evaluator

    def dedup_key(self) -> tuple:
        return (KIND_EVALUATION, self.task_id, self.evaluator, self.miner, self.p, self.g)


Payload = RolloutMsg | EvaluationMsg


def _pack_u32(values: tuple[int, ...] | list[int]) -> bytes:
    return struct.pack(f"<{len(values)}I", *values)


def _pack_f32(values: tuple[float, ...] | list[float]) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def _addr_bytes(address: str) -> bytes:
    raw = bytes.fromhex(address[2:] if address.startswith("0x") else address)
    if len(raw) != 20:
        raise ValueError(f"address {address!r} is not 20 bytes")
    return raw


def encode_payload(payload: Payload) -> bytes:
    """Canonical CBOR of the payload array (field order is the schema)."""
    if isinstance(payload, RolloutMsg):
        fields = [
            payload.task_id,
            _addr_bytes(payload.miner),
            payload.p,
            payload.g,
            _pack_u32(payload.prompt_ids),
            _pack_u32(payload.tokens),
            _pack_f32(payload.logprobs),
            payload.claimed_reward,
        ]
    elif isinstance(payload, EvaluationMsg):
        fields = [
            payload.task_id,
            _addr_bytes(payload.miner),
            payload.p,
            payload.g,
            payload.score,
            _addr_bytes(payload.evaluator),
        ]
    else:
        raise TypeError(f"cannot encode {type(payload).__name__} as a gossip payload")
    return cbor2.dumps(fields, canonical=True)


def _uint(value: object, bound: int, name: str) -> int:
    if type(value) is not int or not 0 <= value <= bound:
        raise WireError("bad_schema", f"{name} must be an integer in [0, {bound}]")
    return value


def _address(value: object, name: str) -> str:
    if type(value) is not bytes or len(value) != 20:
        raise WireError("bad_schema", f"{name} must be 20 bytes")
    return to_checksum_address(value)


def _u32_array(value: object, name: str, max_len: int) -> tuple[int, ...]:
    if type(value) is not bytes or len(value) % 4 or len(value) // 4 > max_len:
        raise WireError("bad_schema", f"{name} must be little-endian uint32 bytes, at most {max_len}")
    return struct.unpack(f"<{len(value) // 4}I", value)


def _f32_array(value: object, name: str, max_len: int) -> tuple[float, ...]:
    if type(value) is not bytes or len(value) % 4 or len(value) // 4 > max_len:
        raise WireError("bad_schema", f"{name} must be little-endian float32 bytes, at most {max_len}")
    floats = struct.unpack(f"<{len(value) // 4}f", value)
    if not all(math.isfinite(x) and x <= 0.0 for x in floats):
        raise WireError("bad_schema", f"{name} must be finite and <= 0")
    return floats


def decode_payload(kind: int, body: bytes, max_tokens: int) -> Payload:
    """Schema-checked decode of a payload body; raises WireError('undecodable'|'bad_schema')."""
    try:
        fields = cbor2.loads(body)
    except Exception as exc:  # cbor2 raises several types on garbage
        raise WireError("undecodable", f"payload is not CBOR: {exc}") from None
    if kind == KIND_ROLLOUT:
        if type(fields) is not list or len(fields) != 8:
            raise WireError("bad_schema", "rollout payload must be an array of 8 fields")
        tokens = _u32_array(fields[5], "tokens", max_tokens)
        logprobs = _f32_array(fields[6], "logprobs", max_tokens)
        if len(tokens) != len(logprobs):
            raise WireError("bad_schema", "tokens and logprobs must have the same length")
        return RolloutMsg(
            task_id=_uint(fields[0], UINT256_MAX, "task_id"),
            miner=_address(fields[1], "miner"),
            p=_uint(fields[2], UINT32_MAX, "p"),
            g=_uint(fields[3], UINT32_MAX, "g"),
            prompt_ids=_u32_array(fields[4], "prompt_ids", max_tokens),
            tokens=tokens,
            logprobs=logprobs,
            claimed_reward=_uint(fields[7], SCORE_ONE, "claimed_reward"),
        )
    if kind == KIND_EVALUATION:
        if type(fields) is not list or len(fields) != 6:
            raise WireError("bad_schema", "evaluation payload must be an array of 6 fields")
        return EvaluationMsg(
            task_id=_uint(fields[0], UINT256_MAX, "task_id"),
            miner=_address(fields[1], "miner"),
            p=_uint(fields[2], UINT32_MAX, "p"),
            g=_uint(fields[3], UINT32_MAX, "g"),
            score=_uint(fields[4], SCORE_ONE, "score"),
            evaluator=_address(fields[5], "evaluator"),
        )
    raise WireError("bad_schema", f"unknown payload kind {kind}")


def gossip_digest(topic: str, version: int, kind: int, sent_ms: int, body: bytes) -> bytes:
    """keccak256(domain ‖ 0 ‖ topic ‖ 0 ‖ version:u8 ‖ kind:u8 ‖ sent_ms:u64be ‖ keccak256(body))."""
    header = struct.pack(">BBQ", version, kind, sent_ms)
    return keccak(GOSSIP_DOMAIN + b"\x00" + topic.encode() + b"\x00" + header + keccak(body))


@dataclass(frozen=True)
class Envelope:
    version: int
    kind: int
    sent_ms: int
    body: bytes
    signature: bytes


def sign_envelope(topic: str, payload: Payload, private_key: bytes, sent_ms: int | None = None) -> bytes:
    """Encode and sign a payload for `topic` with the sender's Ethereum key; returns envelope bytes."""
    kind = KIND_ROLLOUT if isinstance(payload, RolloutMsg) else KIND_EVALUATION
    body = encode_payload(payload)
    sent = int(time.time() * 1000) if sent_ms is None else sent_ms
    digest = gossip_digest(topic, WIRE_VERSION, kind, sent, body)
    signed = Account.sign_message(encode_defunct(primitive=digest), private_key)
    return cbor2.dumps([WIRE_VERSION, kind, sent, body, bytes(signed.signature)], canonical=True)


def decode_envelope(data: bytes, max_bytes: int) -> Envelope:
    """Size-limited structural decode of an envelope (signature not yet checked)."""
    if len(data) > max_bytes:
        raise WireError("oversize", f"envelope of {len(data)} bytes exceeds {max_bytes}")
    try:
        fields = cbor2.loads(data)
    except Exception as exc:
        raise WireError("undecodable", f"envelope is not CBOR: {exc}") from None
    if type(fields) is not list or not fields:
        raise WireError("undecodable", "envelope must be a CBOR array")
    if fields[0] != WIRE_VERSION:
        raise WireError("wrong_version", f"envelope version {fields[0]!r} is not {WIRE_VERSION}")
    if len(fields) != 5:
        raise WireError("bad_schema", "envelope must have 5 fields")
    version, kind, sent_ms, body, signature = fields
    if kind not in KIND_NAMES:
        raise WireError("bad_schema", f"unknown envelope kind {kind!r}")
    _uint(sent_ms, UINT64_MAX, "sent_ms")
    if type(body) is not bytes or type(signature) is not bytes or len(signature) != 65:
        raise WireError("bad_schema", "envelope body must be bytes and signature 65 bytes")
    return Envelope(version, kind, sent_ms, body, signature)


def recover_signer(topic: str, env: Envelope) -> str:
    """Checksummed address that signed the envelope, or WireError('bad_signature')."""
    digest = gossip_digest(topic, env.version, env.kind, env.sent_ms, env.body)
    try:
        return Account.recover_message(encode_defunct(primitive=digest), signature=env.signature)
    except Exception:
        raise WireError("bad_signature", "envelope signature does not recover to an address") from None
