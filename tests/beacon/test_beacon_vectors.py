"""Real drand vectors verify; tampered ones fail with a clear sentence; encodings agree with fixtures."""

from __future__ import annotations

import hashlib
import json

import drand_verify
import pytest
from beacon_helpers import FIXTURES

from node.devnet.beacon import DEVNET_SEED, DevnetBeacon, devnet_fixture, eip2537_encodings
from verifier.beacon import (
    QUICKNET,
    QUICKNET_CHAIN_HASH,
    BeaconError,
    ChainInfo,
    ChainMismatch,
    onchain_args,
    pubkey_eip2537,
    round_at,
    time_of_round,
    verify_beacon,
)
from verifier.bls import FIELD_MODULUS, G1_EIP2537_SIZE, decode_g1


def _walkthrough_info(vectors) -> ChainInfo:
    pk = bytes.fromhex(vectors["chains"]["walkthrough"]["public_key"])
    return ChainInfo(public_key=pk, period=3, genesis_time=0, group_hash=bytes(32))


def test_quicknet_constant_hashes_to_the_published_chain_hash(vectors):
    assert QUICKNET.hash == QUICKNET_CHAIN_HASH == vectors["chains"]["quicknet"]["chain_hash"]
    assert QUICKNET.public_key.hex() == vectors["chains"]["quicknet"]["public_key"]
    assert QUICKNET.genesis_time == vectors["chains"]["quicknet"]["genesis_time"]


def test_real_quicknet_beacons_verify(vectors):
    for b in vectors["chains"]["quicknet"]["beacons"]:
        randomness = verify_beacon(QUICKNET, b["round"], bytes.fromhex(b["signature"]))
        assert randomness.hex() == b["randomness"]


def test_walkthrough_vector_verifies_under_its_own_key_only(vectors):
    b = vectors["chains"]["walkthrough"]["beacons"][0]
    sig = bytes.fromhex(b["signature"])
    assert verify_beacon(_walkthrough_info(vectors), b["round"], sig).hex() == b["randomness"]
    with pytest.raises(BeaconError, match="does not verify"):
        verify_beacon(QUICKNET, b["round"], sig)


def test_wrong_round_is_rejected(vectors):
    b = vectors["chains"]["quicknet"]["beacons"][0]
    with pytest.raises(BeaconError, match=r"round 3 does not verify"):
        verify_beacon(QUICKNET, b["round"] + 1, bytes.fromhex(b["signature"]))


def test_flipped_bits_are_rejected(vectors):
    sig = bytearray(bytes.fromhex(vectors["chains"]["quicknet"]["beacons"][0]["signature"]))
    rejected = 0
    for i in (0, 1, 20, 47):
        tampered = bytearray(sig)
        tampered[i] ^= 0x01 if i else 0x20  # byte 0: flip the sign flag (the negated point)
        with pytest.raises(BeaconError) as err:
            verify_beacon(QUICKNET, 2, bytes(tampered))
        assert "round 2" in str(err.value)
        rejected += 1
    assert rejected == 4


def test_malformed_signatures_fail_with_a_sentence():
    with pytest.raises(BeaconError, match="48 compressed bytes, got 47"):
        verify_beacon(QUICKNET, 2, bytes(47))
    infinity = bytes([0xC0]) + bytes(47)
    with pytest.raises(BeaconError, match="point at infinity"):
        verify_beacon(QUICKNET, 2, infinity)
    with pytest.raises(BeaconError, match="outside"):
        verify_beacon(QUICKNET, 0, bytes(48))


def test_independent_implementation_agrees(vectors):
    """drand-verify (Rust) and our arkworks path accept and reject the same beacons."""
    devnet = DevnetBeacon.from_seed(DEVNET_SEED, genesis_time=0)
    cases = [
        (QUICKNET.public_key, b["round"], b["signature"]) for b in vectors["chains"]["quicknet"]["beacons"]
    ]
    cases += [(devnet.info.public_key, r, devnet.sign(r).signature.hex()) for r in (1, 2, 99)]
    for pk, rnd, sig in cases:
        assert drand_verify.verify_bls_unchained_g1_rfc9380(rnd, sig, pk.hex())
        with pytest.raises(ValueError, match="Verification Failed"):
            drand_verify.verify_bls_unchained_g1_rfc9380(rnd + 1, sig, pk.hex())


def test_round_arithmetic_matches_drand_clock():
    g, p = QUICKNET.genesis_time, QUICKNET.period
    assert round_at(g - 1, g, p) == 0
    assert round_at(g, g, p) == 1
    assert round_at(g + p - 1, g, p) == 1
    assert round_at(g + p, g, p) == 2
    for r in (1, 2, 1000, 10**9):
        assert round_at(time_of_round(r, g, p), g, p) == r
        assert round_at(time_of_round(r, g, p) - 1, g, p) == r - 1
    with pytest.raises(ValueError):
        time_of_round(0, g, p)


def test_chain_info_served_hash_must_match_its_fields():
    data = QUICKNET.to_json()
    assert ChainInfo.from_json(data) == QUICKNET
    data["period"] = 30  # a relay lies about the clock but keeps quicknet's hash
    with pytest.raises(ChainMismatch, match="hash"):
        ChainInfo.from_json(data)
    with pytest.raises(BeaconError, match="public_key"):
        ChainInfo.from_json({"public_key": 5})


def test_onchain_encodings_roundtrip(vectors):
    sig = bytes.fromhex(vectors["chains"]["quicknet"]["beacons"][0]["signature"])
    compressed, point = onchain_args(sig)
    assert compressed == sig and len(point) == G1_EIP2537_SIZE
    assert point[:16] == bytes(16) and point[64:80] == bytes(16)
    x = int.from_bytes(point[16:64], "big")
    y = int.from_bytes(point[80:128], "big")
    assert x == int.from_bytes(sig, "big") & ((1 << 381) - 1)
    assert (y > (FIELD_MODULUS - 1) // 2) == bool(sig[0] & 0x20)
    assert (y * y - x**3 - 4) % FIELD_MODULUS == 0  # on the curve y^2 = x^3 + 4
    assert decode_g1(sig).to_compressed_bytes() == sig
    key = pubkey_eip2537(QUICKNET.public_key)
    assert len(key) == 256 and all(key[i * 64 : i * 64 + 16] == bytes(16) for i in range(4))
    with pytest.raises(BeaconError, match="on chain"):
        onchain_args(b"\x00" * 48)


def test_committed_forge_fixtures_are_current(vectors):
    """contracts/test/fixtures is generated; a drift here means the forge tests test something else."""
    committed = json.loads((FIXTURES / "devnet_beacons.json").read_text())
    assert committed == json.loads(json.dumps(devnet_fixture(len(committed["beacons"]))))
    encoded = json.loads((FIXTURES / "drand_quicknet_eip2537.json").read_text())
    assert encoded == eip2537_encodings(vectors)
    for b in committed["beacons"]:
        assert hashlib.sha256(bytes.fromhex(b["signature"])).hexdigest() == b["randomness"]
