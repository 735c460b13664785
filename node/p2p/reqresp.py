"""Request/response framing (PROTOCOL.md §8.3): one uvarint-length-prefixed CBOR map each way per stream."""

from __future__ import annotations

from typing import Any, Final

import cbor2
from libp2p.utils.varint import encode_varint_prefixed, read_varint_prefixed_bytes_limited

OPENINGS_PROTOCOL: Final = "/rollproof/openings/1.0.0"
HISTORY_PROTOCOL: Final = "/rollproof/history/1.0.0"
ADAPTER_PROTOCOL: Final = "/rollproof/adapter/1.0.0"
MAX_OPENING_INDICES: Final = 4096
MAX_HISTORY_PAGE: Final = 512


class RequestError(RuntimeError):
    """A request failed (remote error, timeout, size limit, bad reply); the message says which."""


class FrameError(ValueError):
    pass


def encode_frame(obj: dict[str, Any], limit: int) -> bytes:
    body = cbor2.dumps(obj, canonical=True)
    if len(body) > limit:
        raise FrameError(f"frame of {len(body)} bytes exceeds the {limit}-byte limit")
    return encode_varint_prefixed(body)


async def read_frame(stream: Any, limit: int) -> dict[str, Any]:
    try:
        body = await read_varint_prefixed_bytes_limited(stream, limit)
    except Exception as exc:
        raise FrameError(f"could not read a frame within {limit} bytes: {exc}") from None
    try:
        obj = cbor2.loads(body)
    except Exception:
        raise FrameError("frame is not CBOR") from None
    if type(obj) is not dict:
        raise FrameError("frame must be a CBOR map")
    return obj


def expect(obj: dict[str, Any], key: str, typ: type, what: str) -> Any:
    value = obj.get(key)
    if type(value) is not typ:
        raise FrameError(f"{what}: field {key!r} must be {typ.__name__}")
    return value
