"""Identity, startup errors, bootstrap reachability reporting, clean shutdown."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import coincurve
import pytest
from prometheus_client import generate_latest

from node.p2p import (
    P2PConfig,
    P2PError,
    P2PNode,
    canonical_peer_id,
    load_or_create_identity,
    peer_id_from_secret,
)
from node.p2p.identity import IdentityError
from tests.p2p.helpers import account_key, identity_secret, local_config, staked_set

pytestmark = pytest.mark.timeout(120)


def test_identity_file_is_created_once_and_peer_id_is_canonical(tmp_path: Path):
    path = tmp_path / "keys" / "identity.key"
    secret = load_or_create_identity(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_identity(path) == secret
    pub = coincurve.PrivateKey(secret).public_key.format(compressed=False)
    assert peer_id_from_secret(secret).to_bytes() == canonical_peer_id(pub[1:33], pub[33:])
    assert len(canonical_peer_id(pub[1:33], pub[33:])) == 39


def test_bad_identity_file_is_a_sentence(tmp_path: Path):
    path = tmp_path / "id.key"
    path.write_text("not hex at all")
    with pytest.raises(IdentityError, match="64 hex digits"):
        load_or_create_identity(path)
    path.write_text("00" * 32)
    with pytest.raises(IdentityError, match="not a valid secp256k1 secret"):
        load_or_create_identity(path)


def test_host_peer_id_matches_identity_file_and_metrics_export(tmp_path: Path):
    cfg = local_config()
    cfg.identity_path = tmp_path / "id.key"
    node = P2PNode(cfg, account_key(0), staked_set([0])).start()
    try:
        assert node.peer_id == peer_id_from_secret(load_or_create_identity(cfg.identity_path))
        assert node.listen_addrs[0].endswith(f"/p2p/{node.peer_id.to_base58()}")
        text = generate_latest(node.metrics.registry).decode()
        assert "rollproof_p2p_peers" in text and "rollproof_p2p_messages_rejected" in text
        node.write_stats(tmp_path / "p2p_stats.json")
        stats = json.loads((tmp_path / "p2p_stats.json").read_text())
        assert stats["peer_id"] == node.peer_id.to_base58() and stats["peers"] == 0
    finally:
        node.stop()
        node.stop()  # idempotent
    assert node.failure is None  # shutdown noise ("Nursery is closed") is absorbed, nothing else


def test_busy_port_and_bad_bootstrap_are_clear_errors():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port = sock.getsockname()[1]
    try:
        node = P2PNode(local_config(port=port), account_key(0), staked_set([0]), identity_secret(0))
        with pytest.raises(P2PError, match="could not listen on /ip4/127.0.0.1/tcp/"):
            node.start()
        node.stop()
    finally:
        sock.close()
    with pytest.raises(ValueError, match="is not a multiaddr like"):
        P2PNode(P2PConfig(bootstrap=["127.0.0.1:4001"]), account_key(0), staked_set([0]), identity_secret(0))


def test_unreachable_bootstrap_is_reported_then_reconnects_when_peer_appears():
    # Reserve a port, then start nothing on it: the bootstrap peer is down.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    from node.p2p import peer_id_from_secret as pid

    target = f"/ip4/127.0.0.1/tcp/{port}/p2p/{pid(identity_secret(7)).to_base58()}"
    node = P2PNode(
        local_config(bootstrap=[target], reconnect_max_seconds=1.0),
        account_key(0),
        staked_set([0]),
        identity_secret(0),
    )
    node.start()
    late = None
    try:
        deadline = time.monotonic() + 30
        while not node.stats()["bootstrap_unreachable"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert node.stats()["bootstrap_unreachable"] == [pid(identity_secret(7)).to_base58()]
        late = P2PNode(local_config(port=port), account_key(1), staked_set([0]), identity_secret(7)).start()
        deadline = time.monotonic() + 60
        while node.stats()["peers"] < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert node.stats()["peers"] == 1
        assert node.stats()["bootstrap_unreachable"] == []
    finally:
        if late is not None:
            late.stop()
        node.stop()
