"""Discovery: signed address records, the peer-exchange protocol, and bootstrap peers of a deployment.

A node's dialable addresses travel as a libp2p signed peer record (the standard envelope of
domain "libp2p-peer-record", signed by the host key, so the peer id vouches for them): a
relaying peer cannot swap in its own address for someone else's id. `/rollproof/peers/1.0.0`
hands out the records a node holds; nodes ask every new connection and then every
`px_interval`, keep the newest record (highest seq) per peer, and dial what they learn up to
`max_peers`. The deployment file can name bootstrap peers (`extra.bootstrap`), so two operators
meet with nothing but the deployment file.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import socket
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import multiaddr
from libp2p.peer.envelope import consume_envelope, seal_record
from libp2p.peer.id import ID
from libp2p.peer.peer_record import PeerRecord

PEERS_PROTOCOL: Final = "/rollproof/peers/1.0.0"
RECORD_DOMAIN: Final = "libp2p-peer-record"
MAX_RECORD_BYTES: Final = 4096
MAX_RECORDS: Final = 64
MAX_ADDRS_PER_RECORD: Final = 8


class RecordError(ValueError):
    pass


@dataclass(frozen=True)
class AddressRecord:
    """A verified signed peer record: `peer_id` vouches for `addrs` (newest `seq` wins)."""

    peer_id: str
    addrs: tuple[str, ...]
    seq: int
    envelope: bytes

    def dial_addrs(self) -> list[str]:
        return [f"{a}/p2p/{self.peer_id}" for a in self.addrs]

    def circuits(self) -> list[str]:
        """The addresses that reach the peer through a relay (`…/p2p/<relay>/p2p-circuit`)."""
        return [a for a in self.addrs if is_circuit_addr(a)]


def seal_address_record(key_pair: Any, addrs: list[str], seq: int | None = None) -> bytes:
    """Our own record: `addrs` (without our own trailing /p2p/<id>; a circuit address keeps its
    relay's) signed with the host key, at most MAX_ADDRS_PER_RECORD of them."""
    peer_id = ID.from_pubkey(key_pair.public_key)
    bare = list(dict.fromkeys(_strip_own_id(a) for a in addrs))[:MAX_ADDRS_PER_RECORD]
    record = PeerRecord(peer_id, [multiaddr.Multiaddr(a) for a in bare], seq)
    return seal_record(record, key_pair.private_key).marshal_envelope()


def open_address_record(data: bytes) -> AddressRecord:
    """Verify a record from the network: size, signature, signer = the record's peer id, sane addrs."""
    if type(data) is not bytes or len(data) > MAX_RECORD_BYTES:
        raise RecordError("address record missing or larger than 4 KiB")
    try:
        envelope, record = consume_envelope(data, RECORD_DOMAIN)
    except Exception as exc:
        raise RecordError(f"address record does not verify: {exc}") from None
    if ID.from_pubkey(envelope.public_key) != record.peer_id:
        raise RecordError("address record is signed by another key than its peer id's")
    addrs = tuple(str(a) for a in record.addrs[:MAX_ADDRS_PER_RECORD])
    # No address at all is allowed: a node behind relays that lost every slot withdraws the
    # circuit addresses its earlier record named (only its own key can sign that).
    if not all(record_addr_ok(a) for a in addrs):
        raise RecordError(
            "address record holds an address that is not dialable: neither /ip4|ip6|dns/.../tcp/<port> "
            "nor such an address followed by /p2p/<relay id>/p2p-circuit"
        )
    peer_id = record.peer_id.to_base58()
    if any(_circuit_relay(a) == peer_id for a in addrs):
        raise RecordError("address record names its own peer as its relay")
    return AddressRecord(peer_id, addrs, int(record.seq), data)


def dialable(addr: str) -> bool:
    """A concrete TCP address someone else can dial (not 0.0.0.0, not port 0)."""
    parts = addr.strip("/").split("/")
    if len(parts) < 4 or parts[0] not in ("ip4", "ip6", "dns", "dns4", "dns6") or parts[2] != "tcp":
        return False
    if not parts[3].isdigit() or not 0 < int(parts[3]) < 65536:
        return False
    if parts[0] in ("ip4", "ip6"):
        try:
            ip = ipaddress.ip_address(parts[1])
        except ValueError:
            return False
        return not ip.is_unspecified and not ip.is_multicast
    return True


def is_circuit_addr(addr: str) -> bool:
    """`<dialable address>/p2p/<relay id>/p2p-circuit`: the peer is reached through that relay."""
    return _circuit_relay(addr) is not None


def record_addr_ok(addr: str) -> bool:
    """An address a signed record may hold: a dialable /ip4|ip6|dns/…/tcp/<port> and nothing more,
    or a circuit address through one."""
    return _plain_tcp(addr) or is_circuit_addr(addr)


def _plain_tcp(addr: str) -> bool:
    return dialable(addr) and len(str(addr).strip("/").split("/")) == 4


def circuit_address(relay_addr: str, relay_id: str) -> str:
    """How a node that reserved a slot on the relay is reached (without its own /p2p/ id)."""
    return f"{_strip_own_id(relay_addr)}/p2p/{relay_id}/p2p-circuit"


def _circuit_relay(addr: str) -> str | None:
    """The relay's peer id of a circuit address, or None when `addr` is not one."""
    head, sep, tail = str(addr).rstrip("/").rpartition("/p2p-circuit")
    if not sep or tail:
        return None
    base, sep, relay = head.rpartition("/p2p/")
    if not sep or not _plain_tcp(base):
        return None
    try:
        return ID.from_base58(relay).to_base58()
    except Exception:  # noqa: BLE001 - any parse error: not a peer id
        return None


def interface_ipv4s() -> list[str]:
    """IPv4 addresses of this machine's interfaces that are up, loopback last (Linux ioctl)."""
    found: list[str] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in socket.if_nameindex():
            try:
                packed = fcntl.ioctl(
                    sock.fileno(), 0x8915, struct.pack("256s", name.encode()[:15])
                )  # SIOCGIFADDR
            except OSError:
                continue
            found.append(socket.inet_ntoa(packed[20:24]))
    return sorted(set(found), key=lambda ip: (ip.startswith("127."), ip))


def advertised_addrs(listen_addrs: list[str], announce: list[str]) -> list[str]:
    """What we put in our record: `announce` when set; else the listen addresses with a wildcard
    host expanded to each interface address (loopback only when it is all there is)."""
    if announce:
        return [_strip_own_id(a) for a in announce]
    out: list[str] = []
    for addr in listen_addrs:
        bare = _strip_own_id(addr)
        parts = bare.strip("/").split("/")
        if len(parts) >= 4 and parts[0] == "ip4" and parts[1] == "0.0.0.0":
            ips = interface_ipv4s()
            external = [ip for ip in ips if not ip.startswith("127.")]
            for ip in external or ips:
                out.append("/" + "/".join(["ip4", ip, *parts[2:]]))
        elif dialable(bare):
            out.append(bare)
    return list(dict.fromkeys(out))


def deployment_bootstrap(path: Path | str) -> list[str]:
    """Bootstrap peers named in a deployment file (`extra.bootstrap`), each a full /p2p/ multiaddr."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return []
    peers = (data.get("extra") or {}).get("bootstrap") or []
    if not isinstance(peers, list):
        return []
    return [p for p in peers if isinstance(p, str) and "/p2p/" in p and dialable(_strip_p2p(p))]


def add_deployment_bootstrap(path: Path | str, addrs: list[str]) -> list[str]:
    """Add bootstrap peers to a deployment file (what the first operator does once its node runs)."""
    path = Path(path)
    data = json.loads(path.read_text())
    extra = data.setdefault("extra", {})
    current = [a for a in extra.get("bootstrap") or [] if isinstance(a, str)]
    for addr in addrs:
        if "/p2p/" not in addr or not dialable(_strip_p2p(addr)):
            raise RecordError(f"{addr!r} is not a dialable multiaddr ending in /p2p/<peer id>")
        if addr not in current:
            current.append(addr)
    extra["bootstrap"] = current
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)
    return current


def _strip_p2p(addr: str) -> str:
    return addr.split("/p2p/")[0]


def _strip_own_id(addr: str) -> str:
    """`addr` without a trailing /p2p/<id> (a circuit address keeps its relay's /p2p/<relay>)."""
    head, sep, tail = addr.rstrip("/").rpartition("/p2p/")
    return head if sep and "/" not in tail else addr.rstrip("/")
