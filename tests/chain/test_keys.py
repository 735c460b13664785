"""Keystores, passphrases and the libp2p identity binding."""

from __future__ import annotations

import stat

import pytest
from eth_account import Account
from libp2p.crypto.secp256k1 import create_new_key_pair
from libp2p.peer.id import ID

from chain.clients import Role
from chain.errors import ChainRevert
from chain.keys import (
    KeystoreExists,
    KeystoreNotFound,
    PassphraseUnavailable,
    WrongPassphrase,
    create_keystore,
    identity_address,
    identity_path_for,
    identity_public_key,
    keystore_address,
    load_account,
    load_identity_secret,
    peer_binding_digest,
    peer_binding_signature,
    peer_id_bytes,
    read_passphrase,
)

FAST = {"kdf": "pbkdf2", "iterations": 2}  # the real default (scrypt) is slow on purpose


def test_keystore_round_trip_and_modes(tmp_path):
    key = "0x" + "ab" * 32
    paths = create_keystore(tmp_path / "node.json", "correct horse", private_key=key, **FAST)
    assert paths.address == Account.from_key(key).address == keystore_address(paths.keystore)
    assert load_account(paths.keystore, "correct horse").key.hex().removeprefix("0x") == "ab" * 32
    for path in (paths.keystore, paths.identity):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert paths.identity == identity_path_for(paths.keystore)
    assert "correct horse" not in paths.keystore.read_text()
    secret = load_identity_secret(paths.identity)
    assert paths.peer_id == peer_id_bytes(identity_public_key(secret))


def test_wrong_passphrase_is_a_sentence(tmp_path):
    paths = create_keystore(tmp_path / "k.json", "right", **FAST)
    with pytest.raises(WrongPassphrase, match=r"^the passphrase does not open keystore .*k\.json\.$"):
        load_account(paths.keystore, "wrong")


def test_unknown_keystore_path(tmp_path):
    with pytest.raises(KeystoreNotFound, match="does not exist; create one with `rollproof keys new`"):
        load_account(tmp_path / "missing.json", "x")


def test_never_overwrites(tmp_path):
    create_keystore(tmp_path / "k.json", "p", **FAST)
    with pytest.raises(KeystoreExists, match="refusing to overwrite"):
        create_keystore(tmp_path / "k.json", "p", **FAST)


def test_passphrase_sources(tmp_path, monkeypatch):
    monkeypatch.delenv("ROLLPROOF_PASSPHRASE", raising=False)
    file = tmp_path / "pass.txt"
    file.write_text("from-file\n")
    assert read_passphrase(file) == "from-file"
    monkeypatch.setenv("ROLLPROOF_PASSPHRASE", "from-env")
    assert read_passphrase(None) == "from-env"
    monkeypatch.delenv("ROLLPROOF_PASSPHRASE")
    asked = []
    assert read_passphrase(None, getpass_fn=lambda p: asked.append(p) or "typed") == "typed"
    assert asked == ["Keystore passphrase: "]
    with pytest.raises(PassphraseUnavailable, match="differ"):
        answers = iter(["a", "b"])
        read_passphrase(None, confirm=True, getpass_fn=lambda p: next(answers))
    with pytest.raises(PassphraseUnavailable, match="no passphrase given"):
        read_passphrase(None, prompt=None)
    with pytest.raises(PassphraseUnavailable, match="does not exist"):
        read_passphrase(tmp_path / "nope")


def test_peer_id_matches_py_libp2p():
    secret = bytes(range(1, 33))
    pair = create_new_key_pair(secret)
    assert peer_id_bytes(identity_public_key(secret)) == ID.from_pubkey(pair.public_key).to_bytes()
    assert len(peer_id_bytes(identity_public_key(secret))) == 39


def test_binding_digest_and_signature_match_the_contract(chain_for):
    miner = chain_for(1)
    secret = bytes(range(7, 39))
    assert miner.stakes.peer_binding_digest(miner.address) == peer_binding_digest(
        miner.sender.chain_id, miner.stakes.address, miner.address
    )
    miner.stakes.stake(Role.MINER, 100 * 10**18)
    miner.stakes.register_peer(secret)
    assert miner.stakes.peer_id_of(miner.address) == peer_id_bytes(identity_public_key(secret))
    # The identity key is distinct from the account key.
    assert identity_address(secret) != miner.address


def test_stolen_peer_id_is_rejected(chain_for):
    """A cheater replays the victim's binding signature for itself: the contract refuses."""
    victim, thief = chain_for(1), chain_for(2)
    secret = bytes(range(9, 41))
    victim.stakes.register_peer(secret)
    x, y, v, r, s = peer_binding_signature(
        secret, victim.sender.chain_id, victim.stakes.address, victim.address
    )
    with pytest.raises(ChainRevert, match="binding signature was not made by the identity key"):
        thief.stakes.send("registerPeer", x, y, v, r, s)
    # Signing its own binding needs the victim's identity key; with it, the id is still taken.
    with pytest.raises(ChainRevert, match="already registered to " + victim.address):
        thief.stakes.register_peer(secret)
