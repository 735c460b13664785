"""`rollproof deployment peers|add-peer`: the bootstrap peers a deployment file names.

The first operator adds the address of a node that runs (usually their own, from its `--announce`
address and identity key) before copying the public deployment file to the others; every node then
reads `extra.bootstrap` at start and finds the rest by peer exchange (docs/P2P.md)."""

from __future__ import annotations

from pathlib import Path

from node.config import Config, UserError
from node.ops.common import Report

MAX_PEERS_PER_FILE = 64  # a handful of well-known nodes; more only slows every start


def _deployment_path(cfg: Config) -> Path:
    path = Path(cfg.chain.deployment)
    if not path.is_file():
        raise UserError(
            f"The deployment file {path} does not exist; deploy with `rollproof deploy --out FILE` or point "
            "--deployment at the file the deployer gave you."
        )
    return path


def _own_peer_id(cfg: Config) -> str:
    from chain.keys import load_identity_secret
    from node.p2p import peer_id_from_secret

    key = cfg.identity_key
    if key is None:
        raise UserError(
            "An address without /p2p/<peer id> takes this node's peer id from its identity key: pass "
            "--keystore (its <stem>.p2p.key is read) or --identity-key, or give the full multiaddr."
        )
    try:
        return peer_id_from_secret(load_identity_secret(key)).to_base58()
    except (OSError, ValueError) as exc:
        raise UserError(f"Cannot read the identity key {key}: {exc}") from None


def _check_dialable(addr: str) -> None:
    from node.p2p.discovery import dialable

    if not dialable(addr.partition("/p2p/")[0]):
        raise UserError(
            f"{addr!r} is not a dialable address: write /ip4/<address>/tcp/<port>[/p2p/<peer id>] with a "
            "concrete address (not 0.0.0.0) and a port above 0."
        )


def _read(path: Path) -> None:
    """A deployment file that is not a JSON object is named, not read as 'no peers'."""
    import json

    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"The deployment file {path} cannot be read as JSON ({exc}).") from None
    if not isinstance(data, dict):
        raise UserError(f"The deployment file {path} is not a JSON object.")


def _checked(addr: str) -> str:
    """A full `/ip4|dns/…/tcp/<port>/p2p/<peer id>` multiaddr, or a sentence naming what is wrong."""
    from multiaddr import Multiaddr

    bare, _, peer = addr.partition("/p2p/")
    try:
        # The multiaddr parser checks the peer id as a CID/multihash (plain base58 decoding takes "xyz").
        Multiaddr(addr)
    except Exception:  # noqa: BLE001 - every parse error means the same to an operator
        raise UserError(f"{peer!r} in {addr!r} is not a libp2p peer id (base58, e.g. 16Uiu2…).") from None
    return addr


def peer_addresses(cfg: Config, addrs: list[str]) -> list[str]:
    """The multiaddrs to add: each given one (this node's peer id appended where it has none), or with
    none given, this node's `--announce` addresses, else (a node behind relays) its circuit address
    through each `relay_via` relay."""
    from node.p2p.discovery import circuit_address, is_circuit_addr

    if not addrs:
        addrs = list(cfg.p2p.announce) or [
            circuit_address(v, v.rpartition("/p2p/")[2]) for v in cfg.p2p.relay_via if "/p2p/" in v
        ]
        if not addrs:
            raise UserError(
                "Name the peer's multiaddr (e.g. /ip4/10.0.0.1/tcp/4001/p2p/<peer id>), or set this node's "
                "--announce (ROLLPROOF_ANNOUNCE, [p2p] announce) to add its own address."
            )
    out: list[str] = []
    for addr in addrs:
        addr = addr.strip()
        _check_dialable(addr)
        # A circuit address names the relay's /p2p/ id; the node's own comes after /p2p-circuit.
        own_missing = "/p2p/" not in addr or is_circuit_addr(addr)
        full = f"{addr.rstrip('/')}/p2p/{_own_peer_id(cfg)}" if own_missing else addr
        out.append(_checked(full))
    return out


def add_peer(cfg: Config, addrs: list[str]) -> Report:
    """Add bootstrap peers to the deployment file (idempotent); the file stays valid JSON throughout."""
    from node.p2p import add_deployment_bootstrap, deployment_bootstrap

    path = _deployment_path(cfg)
    _read(path)
    wanted = peer_addresses(cfg, addrs)
    before = deployment_bootstrap(path)
    if len(set(before) | set(wanted)) > MAX_PEERS_PER_FILE:
        raise UserError(f"A deployment file names at most {MAX_PEERS_PER_FILE} bootstrap peers.")
    after = add_deployment_bootstrap(path, wanted)
    added = [a for a in wanted if a not in before]
    lines = [f"added {a}" for a in added] + [f"already there: {a}" for a in wanted if a in before]
    lines.append(f"{path}: {len(after)} bootstrap peer(s); copy it to every host.")
    return Report({"deployment": str(path), "added": added, "bootstrap": after}, lines)


def peers(cfg: Config) -> Report:
    """The bootstrap peers a deployment file names."""
    from node.p2p import deployment_bootstrap

    path = _deployment_path(cfg)
    _read(path)
    found = deployment_bootstrap(path)
    lines = found or [f"{path} names no bootstrap peers; add one with `rollproof deployment add-peer`."]
    return Report({"deployment": str(path), "bootstrap": found}, lines)
