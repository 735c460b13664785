"""BLS12-381 for drand's `bls-unchained-g1-rfc9380` scheme: signatures on G1, public keys on G2.

Thin, typed wrappers over py-arkworks-bls12381 (the curve arithmetic and RFC 9380 hash_to_curve),
plus the encodings the EIP-2537 precompiles expect, so Python and `DrandBeacon.sol` agree byte for byte.
"""

from __future__ import annotations

import hashlib

from py_arkworks_bls12381 import GT, G1Point, G2Point, Scalar

# RFC 9380 suite used by drand quicknet (`bls-unchained-g1-rfc9380`).
DST_G1 = b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_"

# Base field modulus p and scalar field order r of BLS12-381.
FIELD_MODULUS = (
    0x1A0111EA397FE69A4B1BA7B6434BACD764774B84F38512BF6730D2A0F6B0F6241EABFFFEB153FFFFB9FEFFFFFFFFAAAB
)
CURVE_ORDER = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001

G1_COMPRESSED_SIZE = 48
G2_COMPRESSED_SIZE = 96
G1_EIP2537_SIZE = 128
G2_EIP2537_SIZE = 256
FP_SIZE = 48
_EIP2537_PAD = bytes(16)


class BLSError(ValueError):
    """Raised for malformed or invalid BLS bytes; the message is a sentence for the user."""


def decode_g1(compressed: bytes) -> G1Point:
    """Decompresses a 48-byte ZCash-format G1 point and checks it is in the prime-order subgroup."""
    if len(compressed) != G1_COMPRESSED_SIZE:
        raise BLSError(f"A G1 point must be {G1_COMPRESSED_SIZE} compressed bytes, got {len(compressed)}.")
    try:
        point = G1Point.from_compressed_bytes(bytes(compressed))
    except Exception as exc:  # the library raises its own error types for bad encodings
        raise BLSError("The bytes are not a valid compressed BLS12-381 G1 point.") from exc
    if not point.is_in_subgroup():
        raise BLSError("The G1 point is not in the prime-order subgroup.")
    return point


def decode_g2(compressed: bytes) -> G2Point:
    """Decompresses a 96-byte ZCash-format G2 point and checks it is in the prime-order subgroup."""
    if len(compressed) != G2_COMPRESSED_SIZE:
        raise BLSError(f"A G2 point must be {G2_COMPRESSED_SIZE} compressed bytes, got {len(compressed)}.")
    try:
        point = G2Point.from_compressed_bytes(bytes(compressed))
    except Exception as exc:
        raise BLSError("The bytes are not a valid compressed BLS12-381 G2 point.") from exc
    if not point.is_in_subgroup():
        raise BLSError("The G2 point is not in the prime-order subgroup.")
    return point


def _pad_fp_elements(xy: bytes) -> bytes:
    """EIP-2537 encodes each 48-byte field element as 64 bytes with 16 leading zero bytes."""
    return b"".join(_EIP2537_PAD + xy[i : i + FP_SIZE] for i in range(0, len(xy), FP_SIZE))


def g1_to_eip2537(point: G1Point) -> bytes:
    """128-byte EIP-2537 G1 encoding: pad ‖ x ‖ pad ‖ y (the point at infinity is all zeros)."""
    if point == G1Point.identity():
        return bytes(G1_EIP2537_SIZE)
    return _pad_fp_elements(point.to_xy_bytes_be())


def g2_to_eip2537(point: G2Point) -> bytes:
    """256-byte EIP-2537 G2 encoding: x.c0, x.c1, y.c0, y.c1, each padded to 64 bytes."""
    if point == G2Point.identity():
        return bytes(G2_EIP2537_SIZE)
    return _pad_fp_elements(point.to_xy_bytes_be())


def hash_to_g1(message: bytes, dst: bytes = DST_G1) -> G1Point:
    """RFC 9380 hash_to_curve to G1 (expand_message_xmd with SHA-256, SSWU, random oracle)."""
    return G1Point.hash_to_curve(bytes(message), dst)


def verify_g1_signature(public_key: G2Point, message: bytes, signature: G1Point) -> bool:
    """Checks e(sig, -g2) · e(H(m), pk) == 1, the same equation the contract checks."""
    return GT.pairing_check([signature, hash_to_g1(message)], [-G2Point(), public_key])


def secret_key_from_seed(seed: bytes) -> int:
    """Derives a nonzero secret scalar from a seed (devnet keys only; 64 hash bytes reduced mod r)."""
    if len(seed) < 16:
        raise BLSError("A BLS key seed must be at least 16 bytes.")
    wide = hashlib.sha512(b"rollproof.devnet.bls.v1" + bytes(seed)).digest()
    return int.from_bytes(wide, "big") % (CURVE_ORDER - 1) + 1


def public_key_of(secret_key: int) -> G2Point:
    """The G2 public key sk · g2."""
    return G2Point() * Scalar(secret_key)


def sign_g1(secret_key: int, message: bytes) -> G1Point:
    """The G1 signature sk · H(m)."""
    return hash_to_g1(message) * Scalar(secret_key)
