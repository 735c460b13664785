"""What every part of the p2p host shares: the Received message, P2PError, handler types and small helpers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import multiaddr
import trio
from eth_hash.auto import keccak
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr

from .wire import Payload, RolloutMsg

log = logging.getLogger("rollproof.p2p")


Handler = Callable[["Received"], None]
RequestHandler = Callable[[str, dict[str, Any]], dict[str, Any]]
OpeningsHandler = Callable[[int, str, list[tuple[int, int]]], list[tuple[RolloutMsg, list[bytes]]]]
AdapterProvider = Callable[[bytes], Path | None]


@dataclass(frozen=True)
class Received:
    """A validated gossip message as handed to subscribers."""

    topic: str
    payload: Payload
    signer: str  # Ethereum address that signed the envelope
    origin: str  # libp2p peer id (base58) that first published it; "" when fetched by history
    sent_ms: int
    envelope: bytes


class P2PError(RuntimeError):
    pass


def _parse_peer_addr(addr: str) -> PeerInfo:
    try:
        return info_from_p2p_addr(multiaddr.Multiaddr(addr))
    except Exception as exc:
        raise ValueError(
            f"peer address {addr!r} is not a multiaddr like /ip4/1.2.3.4/tcp/4001/p2p/<peer id>: {exc}"
        ) from None


def file_keccak(path: Path) -> bytes:
    """keccak256 of a file's bytes, streamed (adapter content hash)."""
    hasher = keccak.new(b"")
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            hasher.update(chunk)
    return hasher.digest()


def _raw_sockets(root: Any, depth: int = 8) -> list[Any]:
    """The trio sockets under a py-libp2p connection object (its layers keep them in attributes
    whose names differ per transport; walk them instead of hard-coding the chain)."""
    found: list[Any] = []
    seen: set[int] = set()
    todo = [(root, 0)]
    while todo:
        obj, level = todo.pop()
        if id(obj) in seen or level > depth:
            continue
        seen.add(id(obj))
        if isinstance(obj, trio.socket.SocketType):
            found.append(obj)
            continue
        module = type(obj).__module__ or ""
        if not (module.startswith("libp2p") or module.startswith("trio")):
            continue
        attrs = getattr(obj, "__dict__", {})
        for name in getattr(type(obj), "__slots__", ()):
            if hasattr(obj, name):
                attrs = {**attrs, name: getattr(obj, name)}
        for value in attrs.values():
            if value is not None and not isinstance(value, int | float | str | bytes | dict | list):
                todo.append((value, level + 1))
    return found


def _with_peer_id(addr: str, peer_id: ID) -> str:
    return addr if "/p2p/" in addr else f"{addr}/p2p/{peer_id.to_base58()}"


def _is_shutdown_noise(exc: BaseException) -> bool:
    """py-libp2p sometimes raises 'Nursery is closed' (or cancellations) while tearing down."""
    if isinstance(exc, BaseExceptionGroup):
        return all(_is_shutdown_noise(e) for e in exc.exceptions)
    text = str(exc)
    return isinstance(exc, trio.Cancelled) or "Nursery is closed" in text or "nursery is closed" in text
