"""PRF: exact encodings, uniform range, index sampling, and the PROTOCOL.md test vectors."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from verifier.prf import (
    DOMAIN,
    H,
    encode_field,
    prf_uniform,
    problem_seed,
    sample_indices,
    sampler_u,
    sampler_us,
    uniform_from_digest,
)

PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "PROTOCOL.md"


def protocol_vectors() -> dict:
    """The JSON block between the test-vector markers of PROTOCOL.md."""
    text = PROTOCOL.read_text()
    match = re.search(
        r"<!-- test-vectors:begin -->\s*```json\n(.*?)```\s*<!-- test-vectors:end -->", text, re.S
    )
    assert match, "PROTOCOL.md has no test-vector block"
    return json.loads(match.group(1))


def test_H_is_the_specified_byte_string():
    expected = hashlib.sha256(
        DOMAIN
        + (3).to_bytes(4, "big")
        + b"tag"
        + (2).to_bytes(4, "big")
        + b"\x01\x02"
        + (32).to_bytes(4, "big")
        + (5).to_bytes(32, "big")
        + (3).to_bytes(4, "big")
        + b"abc"
    ).digest()
    assert H("tag", b"\x01\x02", 5, "abc") == expected


def test_length_prefix_separates_fields():
    assert H("t", b"ab", b"c") != H("t", b"a", b"bc")
    assert H("t", b"") != H("t")
    assert H("a", b"b") != H("ab")


def test_field_encoding_rejects_bad_values():
    with pytest.raises(ValueError):
        encode_field(-1)
    with pytest.raises(ValueError):
        encode_field(1 << 256)
    with pytest.raises(TypeError):
        encode_field(True)
    with pytest.raises(TypeError):
        encode_field(1.5)


def test_uniform_is_in_unit_interval_at_the_extremes():
    assert uniform_from_digest(b"\x00" * 32) == 0.0
    top = uniform_from_digest(b"\xff" * 32)
    assert top < 1.0 and top == 1.0 - 2.0**-53


def test_uniforms_look_uniform():
    us = [prf_uniform("u", i) for i in range(4000)]
    assert all(0.0 <= u < 1.0 for u in us)
    assert abs(sum(us) / len(us) - 0.5) < 0.02
    assert sum(u < 0.25 for u in us) == pytest.approx(1000, abs=120)


def test_sample_indices_distinct_and_in_range():
    for n, k in [(1, 1), (5, 5), (64, 4), (100, 30), (3, 10)]:
        out = sample_indices(b"key", n, k)
        assert len(out) == min(n, k) and len(set(out)) == len(out)
        assert all(0 <= i < n for i in out)
    assert sample_indices(b"key", 0, 3) == []
    assert sample_indices(b"a", 64, 4) != sample_indices(b"b", 64, 4)


def test_sample_indices_prefix_stable():
    # Drawing more indices extends the earlier draw: the first k are the same.
    assert sample_indices(b"k", 50, 10)[:4] == sample_indices(b"k", 50, 4)


def test_sample_indices_first_draw_is_uniform():
    counts = [0] * 4
    for i in range(2000):
        counts[sample_indices(i.to_bytes(4, "big"), 4, 1)[0]] += 1
    assert all(400 < c < 600 for c in counts)


def test_sampler_us_matches_sampler_u():
    seed = b"\x07" * 32
    miner = "0x" + "ab" * 20
    us = sampler_us(seed, 3, miner, 1, 2, 5)
    assert us == [sampler_u(seed, 3, miner, 1, 2, t) for t in range(5)]
    assert sampler_u(seed, 3, miner, 1, 2, 0) != sampler_u(seed, 3, "0x" + "ac" * 20, 1, 2, 0)
    assert sampler_u(seed, 3, miner.upper().replace("0X", "0x"), 1, 2, 0) == us[0]


def test_bad_miner_address_is_a_clear_error():
    with pytest.raises(ValueError, match="20 bytes"):
        sampler_u(b"\x00" * 32, 1, "0x1234", 0, 0, 0)
    with pytest.raises(ValueError, match="not hex"):
        sampler_u(b"\x00" * 32, 1, "0xzz" + "00" * 19, 0, 0, 0)


def test_protocol_prf_vectors():
    v = protocol_vectors()["prf"]
    seed = bytes.fromhex(v["seed_randomness"])
    assert H(v["H"]["tag"], *[bytes.fromhex(x) for x in v["H"]["fields_hex"]]).hex() == v["H"]["digest"]
    assert problem_seed(seed, v["task_id"]).hex() == v["problem_seed"]
    us = sampler_us(seed, v["task_id"], v["miner"], v["p"], v["g"], len(v["sampler_u"]))
    assert [float.hex(u) for u in us] == v["sampler_u"]
    assert (
        sample_indices(
            bytes.fromhex(v["sample_indices"]["key"]), v["sample_indices"]["n"], v["sample_indices"]["k"]
        )
        == v["sample_indices"]["out"]
    )


def test_protocol_vectors_match_the_code():
    from verifier_vectors import make_vectors

    assert protocol_vectors() == json.loads(json.dumps(make_vectors()))
