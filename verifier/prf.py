"""Domain-separated hashing and the pseudo-random functions of the protocol (PROTOCOL.md §3).

Everything random in Rollproof (problems, sampler draws, audit samples, audit positions) is a
function of a verified drand randomness value and public task data, computed with the
functions below. They are specified byte for byte so another implementation can reproduce them.
"""

from __future__ import annotations

import hashlib

DOMAIN = b"rollproof.v1"
UINT_BYTES = 32  # integers are 32-byte big-endian words, like ABI uint256
LEN_BYTES = 4  # every item is prefixed by its length as a 4-byte big-endian integer
UNIFORM_BITS = 53  # a double has 53 bits of mantissa: uniforms are k / 2^53

Field = bytes | str | int


def encode_field(value: Field) -> bytes:
    """The bytes of one field: bytes as is, str as UTF-8, int as a 32-byte big-endian word."""
    if isinstance(value, bool):
        raise TypeError("booleans are not PRF fields; use 0 or 1")
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, int):
        if value < 0 or value >= 1 << (8 * UINT_BYTES):
            raise ValueError(f"integer field {value} is outside [0, 2^256)")
        return value.to_bytes(UINT_BYTES, "big")
    raise TypeError(f"unsupported PRF field type {type(value).__name__}")


def length_prefixed(data: bytes) -> bytes:
    """`len(data)` as 4 bytes big-endian, then data."""
    if len(data) >= 1 << (8 * LEN_BYTES):
        raise ValueError("PRF field longer than 2^32 bytes")
    return len(data).to_bytes(LEN_BYTES, "big") + data


def H(tag: str, *fields: Field) -> bytes:
    """`sha256(DOMAIN ‖ lp(tag) ‖ lp(f1) ‖ ... ‖ lp(fn))` where lp is length_prefixed(encode_field(.))."""
    h = hashlib.sha256(DOMAIN)
    h.update(length_prefixed(encode_field(tag)))
    for value in fields:
        h.update(length_prefixed(encode_field(value)))
    return h.digest()


def uniform_from_digest(digest: bytes) -> float:
    """The first 8 bytes as a big-endian uint64, top 53 bits, divided by 2^53: exactly in [0, 1)."""
    return (int.from_bytes(digest[:8], "big") >> (64 - UNIFORM_BITS)) / float(1 << UNIFORM_BITS)


def prf_uniform(tag: str, *fields: Field) -> float:
    """A uniform double in [0, 1) from `H(tag, *fields)`."""
    return uniform_from_digest(H(tag, *fields))


def uniform_int(key: bytes, step: int, bound: int) -> int:
    """An unbiased integer in [0, bound) for step `step` of an index sampler keyed by `key`.

    Rejection sampling over 256-bit words: `r = int(H("index", key, step, attempt))`, accepted when
    `r < floor(2^256 / bound) * bound`, result `r mod bound`; `attempt` counts up from 0.
    """
    if bound <= 0:
        raise ValueError("bound must be positive")
    limit = ((1 << 256) // bound) * bound
    attempt = 0
    while True:
        r = int.from_bytes(H("index", key, step, attempt), "big")
        if r < limit:
            return r % bound
        attempt += 1


def sample_indices(key: bytes, n: int, k: int) -> list[int]:
    """k distinct indices of range(n), in draw order, by a partial Fisher-Yates shuffle.

    `a = [0, ..., n-1]`; for i in 0..k-1: `j = i + uniform_int(key, i, n - i)`, swap a[i], a[j].
    The result is a[0:k]. k larger than n is clamped to n.
    """
    if n < 0 or k < 0:
        raise ValueError("n and k must be non-negative")
    k = min(k, n)
    a = list(range(n))
    for i in range(k):
        j = i + uniform_int(key, i, n - i)
        a[i], a[j] = a[j], a[i]
    return a[:k]


def address_bytes(miner: str | bytes) -> bytes:
    """A miner address as its 20 raw bytes (accepts 0x-hex of any case, or 20 bytes)."""
    if isinstance(miner, bytes | bytearray):
        raw = bytes(miner)
    else:
        text = miner[2:] if miner[:2] in ("0x", "0X") else miner
        try:
            raw = bytes.fromhex(text)
        except ValueError as exc:
            raise ValueError(f"miner address {miner!r} is not hex") from exc
    if len(raw) != 20:
        raise ValueError(f"miner address must be 20 bytes, got {len(raw)}")
    return raw


def problem_seed(seed_randomness: bytes, task_id: int) -> bytes:
    """`H("problems", seedRandomness, taskId)`: the seed passed to `env.generate`."""
    return H("problems", seed_randomness, task_id)


def sampler_u(seed_randomness: bytes, task_id: int, miner: str | bytes, p: int, g: int, t: int) -> float:
    """`u = U(H("sample", seedRandomness, taskId, miner, p, g, t))`: the draw of decode step t."""
    return prf_uniform("sample", seed_randomness, task_id, address_bytes(miner), p, g, t)


def sampler_us(
    seed_randomness: bytes, task_id: int, miner: str | bytes, p: int, g: int, count: int
) -> list[float]:
    """`sampler_u` for steps 0..count-1 (the prefix of the hash input is shared, so this is cheaper)."""
    base = hashlib.sha256(DOMAIN)
    for value in ("sample", seed_randomness, task_id, address_bytes(miner), p, g):
        base.update(length_prefixed(encode_field(value)))
    out = []
    for t in range(count):
        h = base.copy()
        h.update(length_prefixed(encode_field(t)))
        out.append(uniform_from_digest(h.digest()))
    return out
