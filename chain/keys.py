"""Keys: the node's Ethereum account (V3 keystore) and its libp2p identity key.

The account keystore is an eth-account V3 JSON file. The libp2p identity is a secp256k1
secret (32 bytes, hex) in a file beside it (`<keystore stem>.p2p.key`), because the same key
is what the node registers on chain (PROTOCOL.md §2.2) and what the p2p host runs with.
Both files are created with mode 0600 and never overwritten silently. Passphrases come
from an explicit file, an environment variable or a prompt without echo, and are never
printed or logged.
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import coincurve
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

PASSPHRASE_ENV = "ROLLPROOF_PASSPHRASE"
MAX_KEYSTORE_BYTES = 64 * 1024
MAX_PASSPHRASE_FILE_BYTES = 4096
PEER_BINDING_TAG = "rollproof.peer.v1"
# libp2p: identity multihash (0x00, length 0x25 = 37) of the protobuf PublicKey
# {Type: Secp256k1 (0x08 0x02), Data: 33 bytes (0x12 0x21)}.
PEER_ID_PREFIX = bytes([0x00, 0x25, 0x08, 0x02, 0x12, 0x21])


class KeyFileError(Exception):
    """Base for key problems; its message is a sentence for the user."""


class KeystoreNotFound(KeyFileError):
    pass


class WrongPassphrase(KeyFileError):
    pass


class KeystoreExists(KeyFileError):
    pass


class PassphraseUnavailable(KeyFileError):
    pass


# ---- passphrases ---------------------------------------------------------------------------
def read_passphrase(
    passphrase_file: Path | str | None = None,
    env_var: str = PASSPHRASE_ENV,
    prompt: str | None = "Keystore passphrase: ",
    confirm: bool = False,
    getpass_fn: Callable[[str], str] = getpass.getpass,
) -> str:
    """The passphrase from `passphrase_file`, else $`env_var`, else an echo-less prompt.

    With `confirm`, a prompted passphrase is asked twice (used when creating a keystore).
    """
    if passphrase_file is not None:
        path = Path(passphrase_file)
        if not path.is_file():
            raise PassphraseUnavailable(f"passphrase file {path} does not exist.")
        if path.stat().st_size > MAX_PASSPHRASE_FILE_BYTES:
            raise PassphraseUnavailable(
                f"passphrase file {path} is larger than {MAX_PASSPHRASE_FILE_BYTES} bytes."
            )
        # One trailing newline is what editors add; it is not part of the passphrase.
        return path.read_text().removesuffix("\n").removesuffix("\r")
    from_env = os.environ.get(env_var)
    if from_env is not None:
        return from_env
    if prompt is None:
        raise PassphraseUnavailable(
            f"no passphrase given: pass --passphrase-file or set {env_var}, or run interactively."
        )
    first = getpass_fn(prompt)
    if confirm and getpass_fn("Repeat the passphrase: ") != first:
        raise PassphraseUnavailable("the two passphrases differ; nothing was written.")
    return first


# ---- files ---------------------------------------------------------------------------------
def write_private_file(path: Path, data: bytes, overwrite: bool = False) -> None:
    """Write `data` to a new file readable by the owner only (0600 from the first byte)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise KeystoreExists(f"{path} already exists; refusing to overwrite a key file.") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)  # the umask cannot widen it, but an overwritten old file might be wider


def identity_path_for(keystore_path: Path | str) -> Path:
    """Where the libp2p identity key of a keystore lives: beside it, `<stem>.p2p.key`."""
    path = Path(keystore_path)
    return path.with_name(path.stem + ".p2p.key")


# ---- account keystores ---------------------------------------------------------------------
@dataclass(frozen=True)
class KeyPaths:
    keystore: Path
    identity: Path
    address: str
    peer_id: bytes


def create_keystore(
    keystore_path: Path | str,
    passphrase: str,
    private_key: bytes | str | None = None,
    identity_secret: bytes | None = None,
    kdf: str = "scrypt",
    iterations: int | None = None,
) -> KeyPaths:
    """Create (or import, with `private_key`) an account keystore and its identity key beside it.

    `iterations` lowers the KDF cost for tests; leave None for eth-account's defaults.
    """
    keystore_path = Path(keystore_path)
    identity_path = identity_path_for(keystore_path)
    for existing in (keystore_path, identity_path):
        if existing.exists():
            raise KeystoreExists(f"{existing} already exists; refusing to overwrite a key file.")
    from eth_account import Account  # 2-3 s of imports: only when a key is made or opened

    if private_key is None:
        account = Account.create()
    else:
        try:
            account = Account.from_key(private_key)
        except (ValueError, TypeError) as exc:
            raise KeyFileError("the private key is not a valid 32-byte secp256k1 secret.") from exc
    encrypted = Account.encrypt(account.key, passphrase, kdf=kdf, iterations=iterations)
    secret = identity_secret if identity_secret is not None else new_identity_secret()
    write_private_file(keystore_path, json.dumps(encrypted).encode())
    write_private_file(identity_path, secret.hex().encode() + b"\n")
    return KeyPaths(keystore_path, identity_path, account.address, peer_id_bytes(identity_public_key(secret)))


def read_keystore_json(keystore_path: Path | str) -> dict:
    path = Path(keystore_path)
    if not path.is_file():
        raise KeystoreNotFound(f"keystore file {path} does not exist; create one with `rollproof keys new`.")
    if path.stat().st_size > MAX_KEYSTORE_BYTES:
        raise KeyFileError(f"{path} is larger than {MAX_KEYSTORE_BYTES} bytes; it is not a keystore.")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"{path} is not a JSON keystore file.") from exc
    if not isinstance(data, dict) or "crypto" not in data and "Crypto" not in data:
        raise KeyFileError(f"{path} is not a V3 keystore (no crypto section).")
    return data


def keystore_address(keystore_path: Path | str) -> str:
    """The account address of a keystore, read without the passphrase."""
    data = read_keystore_json(keystore_path)
    if "address" not in data:
        raise KeyFileError(f"keystore {keystore_path} does not record its address.")
    return to_checksum_address("0x" + data["address"].removeprefix("0x"))


def load_account(keystore_path: Path | str, passphrase: str) -> LocalAccount:
    """Decrypt a keystore. A wrong passphrase is a sentence, not a traceback."""
    from eth_account import Account

    data = read_keystore_json(keystore_path)
    try:
        secret = Account.decrypt(data, passphrase)
    except ValueError as exc:
        raise WrongPassphrase(f"the passphrase does not open keystore {keystore_path}.") from exc
    return Account.from_key(secret)


def check_private_permissions(path: Path) -> str | None:
    """A warning sentence when a key file is readable by group or others, else None."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return f"{path} is accessible by other users (mode {oct(mode & 0o777)}); run `chmod 600 {path}`."
    return None


# ---- libp2p identity -----------------------------------------------------------------------
def new_identity_secret() -> bytes:
    while True:
        secret = secrets.token_bytes(32)
        try:
            coincurve.PrivateKey(secret)
            return secret
        except ValueError:  # zero or >= group order: astronomically rare, draw again
            continue


def load_identity_secret(identity_path: Path | str) -> bytes:
    """The 32-byte secp256k1 identity secret stored in `identity_path` (hex text)."""
    path = Path(identity_path)
    if not path.is_file():
        raise KeystoreNotFound(f"identity key file {path} does not exist; `rollproof keys new` creates it.")
    if path.stat().st_size > 200:
        raise KeyFileError(f"{path} is too large to be an identity key file.")
    try:
        secret = bytes.fromhex(path.read_text().strip().removeprefix("0x"))
        coincurve.PrivateKey(secret)
    except ValueError as exc:
        raise KeyFileError(f"{path} does not hold a 32-byte hex secp256k1 secret.") from exc
    if len(secret) != 32:
        raise KeyFileError(f"{path} does not hold a 32-byte hex secp256k1 secret.")
    return secret


def identity_public_key(identity_secret: bytes) -> bytes:
    """The uncompressed public key (65 bytes, 0x04 ‖ x ‖ y) of an identity secret."""
    return coincurve.PrivateKey(identity_secret).public_key.format(compressed=False)


def peer_id_bytes(public_key: bytes) -> bytes:
    """Canonical libp2p peer id bytes (39) of a secp256k1 public key, compressed or not.

    Identity multihash of the protobuf public key, exactly as StakeManager derives it.
    """
    compressed = coincurve.PublicKey(public_key).format(compressed=True)
    return PEER_ID_PREFIX + compressed


def peer_binding_digest(chain_id: int, stake_manager: str, owner: str) -> bytes:
    """keccak256(abi.encode("rollproof.peer.v1", chainid, stakeManager, owner)) (PROTOCOL.md §2.2)."""
    encoded = abi_encode(
        ["string", "uint256", "address", "address"],
        [PEER_BINDING_TAG, chain_id, to_checksum_address(stake_manager), to_checksum_address(owner)],
    )
    return keccak(encoded)


def peer_binding_signature(
    identity_key: bytes, chain_id: int, stake_manager: str, owner: str
) -> tuple[bytes, bytes, int, bytes, bytes]:
    """(x, y, v, r, s) for `StakeManager.registerPeer`: the identity key signs the raw digest.

    No EIP-191 prefix; coincurve produces low-s signatures, which both `ecrecover` and
    OpenZeppelin's ECDSA accept.
    """
    private = coincurve.PrivateKey(identity_key)
    digest = peer_binding_digest(chain_id, stake_manager, owner)
    signature = private.sign_recoverable(digest, hasher=None)
    r, s, recovery_id = signature[:32], signature[32:64], signature[64]
    public = private.public_key.format(compressed=False)
    return public[1:33], public[33:65], 27 + recovery_id, r, s


def identity_address(identity_key: bytes) -> str:
    """The Ethereum-style address of the identity key (what `ecrecover` returns on chain)."""
    public = identity_public_key(identity_key)
    return to_checksum_address(keccak(public[1:])[-20:])
