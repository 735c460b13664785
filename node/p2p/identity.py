"""Node identity: a secp256k1 secret whose libp2p peer id is the one registered on chain (§2.2)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import coincurve
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.secp256k1 import create_new_key_pair
from libp2p.peer.id import ID


class IdentityError(ValueError):
    pass


def parse_secret(text: bytes) -> bytes:
    """Accept 32 raw bytes or 64 hex digits (optionally 0x-prefixed, surrounding whitespace ignored)."""
    if len(text) == 32:
        secret = text
    else:
        hex_text = text.strip().decode("ascii", errors="replace")
        hex_text = hex_text[2:] if hex_text.startswith("0x") else hex_text
        try:
            secret = bytes.fromhex(hex_text)
        except ValueError:
            raise IdentityError(
                "the identity key file must hold 64 hex digits (a secp256k1 secret)"
            ) from None
        if len(secret) != 32:
            raise IdentityError("the identity key file must hold exactly 32 bytes (64 hex digits)")
    try:
        coincurve.PrivateKey(secret)
    except Exception:
        raise IdentityError(
            "the identity key is not a valid secp256k1 secret (zero or above the order)"
        ) from None
    return secret


def load_or_create_identity(path: Path) -> bytes:
    """Read the 32-byte identity secret at `path`, creating it (mode 0600, hex) if missing."""
    path = Path(path)
    if path.exists():
        return parse_secret(path.read_bytes())
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_bytes(32)
    while True:
        try:
            coincurve.PrivateKey(secret)
            break
        except Exception:
            secret = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret.hex() + "\n")
    return secret


def key_pair_from_secret(secret: bytes) -> KeyPair:
    return create_new_key_pair(secret)


def peer_id_from_secret(secret: bytes) -> ID:
    return ID.from_pubkey(key_pair_from_secret(secret).public_key)


def canonical_peer_id(x: bytes, y: bytes) -> bytes:
    """The 39-byte peer id StakeManager.registerPeer derives from the public key (x, y)."""
    if len(x) != 32 or len(y) != 32:
        raise IdentityError("public key coordinates must be 32 bytes each")
    compressed = bytes([0x02 + (y[-1] & 1)]) + x
    return b"\x00\x25\x08\x02\x12\x21" + compressed
