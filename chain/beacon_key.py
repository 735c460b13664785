"""The key the DrandBeacon contract verifies beacons under: drand quicknet's, or a devnet signer's
(a key file, a seed, or the fixed devnet seed), and the devnet key file format.

`rollproof deploy --beacon devnet` and the devnet's beacon server (node/devnet/beacon.py) read keys
from here, so deploying never needs the node.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from chain.deploy import BeaconConfig
from chain.errors import ChainError
from chain.keys import KeyFileError
from verifier.beacon import QUICKNET, pubkey_eip2537
from verifier.bls import CURVE_ORDER, public_key_of, secret_key_from_seed

# Fixed seed of the devnet beacon key: deterministic tests and fixtures. Never use it on a real network.
DEVNET_SEED = b"rollproof devnet drand beacon key v1"


class BeaconKeyError(KeyFileError, ValueError):
    """The beacon key file is missing or malformed; the message is a sentence."""


def load_secret_key(path: str | Path) -> int:
    """Reads a key file: the secret scalar as hex (optionally 0x-prefixed), one line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="ascii").strip()
    except FileNotFoundError as exc:
        raise BeaconKeyError(
            f"Beacon key file {p} does not exist (create one with `rollproof beacon keygen`)."
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise BeaconKeyError(f"Beacon key file {p} cannot be read: {exc}.") from exc
    if len(text) > 130:
        raise BeaconKeyError(f"Beacon key file {p} is too long to hold a secret scalar.")
    try:
        secret = int(text.removeprefix("0x"), 16)
    except ValueError as exc:
        raise BeaconKeyError(f"Beacon key file {p} must contain the secret key as hex.") from exc
    if not 0 < secret < CURVE_ORDER:
        raise BeaconKeyError(f"Beacon key file {p} holds a scalar outside 1..r-1.")
    return secret


def write_secret_key(path: str | Path, secret_key: int) -> None:
    """Writes a key file readable only by its owner."""
    p = Path(path)
    p.write_text(f"{secret_key:064x}\n", encoding="ascii")
    p.chmod(0o600)


def new_secret_key() -> int:
    """A fresh random secret scalar (for `rollproof beacon keygen`)."""
    return secrets.randbelow(CURVE_ORDER - 1) + 1


def devnet_secret_key(seed: str | None = None, key_file: Path | None = None) -> int:
    """A devnet signer's key: from `key_file`, else derived from `seed`, else from DEVNET_SEED."""
    if key_file is not None:
        return load_secret_key(key_file)
    return secret_key_from_seed(seed.encode() if seed is not None else DEVNET_SEED)


def devnet_beacon_config(public_key: bytes, genesis: int, period: int) -> BeaconConfig:
    """The deployment's BeaconConfig of a devnet signer's chain (its compressed G2 public key)."""
    return BeaconConfig("devnet", public_key, pubkey_eip2537(public_key), genesis, period)


def beacon_config(
    kind: str, genesis: int | None, period: int, seed: str | None, key_file: Path | None, now: int
) -> BeaconConfig:
    """The DrandBeacon key: quicknet (real drand) or a devnet key (seed / key file / default seed);
    a devnet's default genesis is a little before `now` on a whole minute, so its first rounds exist."""
    if kind == "quicknet":
        info = QUICKNET
        return BeaconConfig(
            "quicknet", info.public_key, pubkey_eip2537(info.public_key), info.genesis_time, info.period
        )
    if kind != "devnet":
        raise ChainError(f"unknown beacon '{kind}': use quicknet or devnet.")
    secret = devnet_secret_key(seed or None, key_file)
    start = genesis if genesis is not None else (now - 60) // 60 * 60
    return devnet_beacon_config(public_key_of(secret).to_compressed_bytes(), start, period)
