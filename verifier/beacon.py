"""drand beacons: round arithmetic, BLS verification, an HTTP client over several relays.

Scheme `bls-unchained-g1-rfc9380` (drand quicknet): the message of round r is sha256(r as 8 bytes
big-endian), the signature is a G1 point (48 bytes compressed) under the group key on G2 (96 bytes),
and randomness = sha256(signature). Every beacon is BLS-verified before anyone sees it; there is no
fallback to local randomness anywhere: without a verified beacon the caller gets `BeaconUnavailable`.
See docs/PROTOCOL.md §4.

Over 400 lines for a reason: one scheme end to end (round arithmetic, message, BLS verification,
the EIP-2537 encodings the contract needs, the relay client); each part is small and all follow
PROTOCOL §4 in its order.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import struct
import time
from dataclasses import dataclass
from typing import Any

import httpx
from py_arkworks_bls12381 import G1Point, G2Point

from verifier.bls import (
    BLSError,
    decode_g1,
    decode_g2,
    g1_to_eip2537,
    g2_to_eip2537,
    verify_g1_signature,
)

log = logging.getLogger(__name__)

SCHEME_ID = "bls-unchained-g1-rfc9380"
DEFAULT_BEACON_ID = "default"
MAX_ROUND = 2**64 - 1
# drand answers are a few hundred bytes; anything much larger is not a beacon.
MAX_RESPONSE_BYTES = 64 * 1024


class BeaconError(ValueError):
    """A beacon or chain info is malformed or fails verification. The message is a sentence."""


class ChainMismatch(BeaconError):
    """A relay serves a different chain than the one configured."""


class BeaconUnavailable(RuntimeError):
    """No relay produced a verified beacon for the round. Never replaced by local randomness."""


def round_at(t: float, genesis: int, period: int) -> int:
    """The latest round published at unix time t: (t - genesis) // period + 1, or 0 before genesis."""
    if period <= 0:
        raise ValueError("The beacon period must be a positive number of seconds.")
    if t < genesis:
        return 0
    return int((int(t) - genesis) // period + 1)


def time_of_round(round: int, genesis: int, period: int) -> int:
    """Unix time at which `round` is published (round 1 at genesis); inverse of round_at."""
    if round < 1:
        raise ValueError("drand rounds start at 1.")
    return genesis + (round - 1) * period


def round_message(round: int) -> bytes:
    """The signed message of an unchained beacon: sha256(round as uint64 big-endian)."""
    if not 1 <= round <= MAX_ROUND:
        raise BeaconError(f"Round {round} is outside 1..2^64-1.")
    return hashlib.sha256(struct.pack(">Q", round)).digest()


def randomness_of(signature: bytes) -> bytes:
    """drand randomness: sha256 of the compressed signature bytes."""
    return hashlib.sha256(signature).digest()


@dataclass(frozen=True)
class ChainInfo:
    """A drand chain: its group key and clock. `hash` is recomputed from the fields, never trusted."""

    public_key: bytes  # 96-byte compressed G2
    period: int  # seconds
    genesis_time: int  # unix seconds of round 1
    group_hash: bytes  # 32 bytes
    scheme_id: str = SCHEME_ID
    beacon_id: str = DEFAULT_BEACON_ID

    def __post_init__(self) -> None:
        if len(self.public_key) != 96:
            raise BeaconError(f"A chain public key must be 96 bytes, got {len(self.public_key)}.")
        if len(self.group_hash) != 32:
            raise BeaconError(f"A chain group hash must be 32 bytes, got {len(self.group_hash)}.")
        if not 0 < self.period < 2**32:
            raise BeaconError(f"The chain period must be between 1 and 2^32-1 seconds, got {self.period}.")
        if not 0 <= self.genesis_time < 2**63:
            raise BeaconError(f"The chain genesis time {self.genesis_time} is out of range.")

    @property
    def hash(self) -> str:
        """drand chain hash: sha256(period u32 ‖ genesis i64 ‖ public key ‖ group hash [‖ beacon id])."""
        h = hashlib.sha256()
        h.update(struct.pack(">I", self.period))
        h.update(struct.pack(">q", self.genesis_time))
        h.update(self.public_key)
        h.update(self.group_hash)
        # drand omits the id of the default beacon, for backward compatibility.
        if self.beacon_id and self.beacon_id != DEFAULT_BEACON_ID:
            h.update(self.beacon_id.encode())
        return h.hexdigest()

    def round_at(self, t: float) -> int:
        return round_at(t, self.genesis_time, self.period)

    def time_of_round(self, round: int) -> int:
        return time_of_round(round, self.genesis_time, self.period)

    def to_json(self) -> dict[str, Any]:
        """drand's /info JSON shape."""
        return {
            "public_key": self.public_key.hex(),
            "period": self.period,
            "genesis_time": self.genesis_time,
            "hash": self.hash,
            "groupHash": self.group_hash.hex(),
            "schemeID": self.scheme_id,
            "metadata": {"beaconID": self.beacon_id},
        }

    @classmethod
    def from_json(cls, data: Any) -> ChainInfo:
        """Parses drand's /info JSON; checks the served hash equals the one recomputed from the fields."""
        if not isinstance(data, dict):
            raise BeaconError("Chain info must be a JSON object.")
        try:
            metadata = data.get("metadata") or {}
            info = cls(
                public_key=_hex_field(data, "public_key"),
                period=_int_field(data, "period"),
                genesis_time=_int_field(data, "genesis_time"),
                group_hash=_hex_field(data, "groupHash"),
                scheme_id=str(data.get("schemeID", SCHEME_ID)),
                beacon_id=str(metadata.get("beaconID", DEFAULT_BEACON_ID))
                if isinstance(metadata, dict)
                else "",
            )
        except (TypeError, AttributeError) as exc:
            raise BeaconError(f"Chain info is malformed: {exc}.") from exc
        served = data.get("hash")
        if served is not None and str(served).lower() != info.hash:
            raise ChainMismatch(f"The chain info claims hash {served} but its fields hash to {info.hash}.")
        return info


def _hex_field(data: dict[str, Any], name: str) -> bytes:
    value = data.get(name)
    if not isinstance(value, str) or len(value) > 4096:
        raise BeaconError(f"Field '{name}' must be a hex string.")
    try:
        return bytes.fromhex(value.removeprefix("0x"))
    except ValueError as exc:
        raise BeaconError(f"Field '{name}' is not valid hex.") from exc


def _int_field(data: dict[str, Any], name: str) -> int:
    value = data.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise BeaconError(f"Field '{name}' must be an integer.")
    return value


# drand mainnet quicknet (https://api.drand.sh/52db9ba7.../info).
QUICKNET = ChainInfo(
    public_key=bytes.fromhex(
        "83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c8c4b450b6a0a6c3ac6a5776a2d1064510d"
        "1fec758c921cc22b0e17e63aaf4bcb5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a"
    ),
    period=3,
    genesis_time=1692803367,
    group_hash=bytes.fromhex("f477d5c89f21a17c863a7f937c6a6d15859414d2be09cd448d4279af331c5d3e"),
    scheme_id=SCHEME_ID,
    beacon_id="quicknet",
)
QUICKNET_CHAIN_HASH = "52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971"
QUICKNET_RELAYS = [
    "https://api.drand.sh",
    "https://api2.drand.sh",
    "https://api3.drand.sh",
    "https://drand.cloudflare.com",
]


@dataclass(frozen=True)
class Beacon:
    """A verified beacon. Only `verify_beacon` and `DrandClient` construct these from untrusted data."""

    round: int
    signature: bytes  # 48-byte compressed G1
    randomness: bytes  # sha256(signature)

    def to_json(self) -> dict[str, Any]:
        """drand's /public/{round} JSON shape for unchained schemes."""
        return {"round": self.round, "randomness": self.randomness.hex(), "signature": self.signature.hex()}

    def onchain_args(self) -> tuple[int, bytes, bytes]:
        """(round, signature48, signaturePoint128): the arguments of DrandBeacon.recordBeacon."""
        signature, point = onchain_args(self.signature)
        return self.round, signature, point


@functools.lru_cache(maxsize=32)
def _group_key(public_key: bytes) -> G2Point:
    # Decompressing a G2 key and checking its subgroup costs more than the pairing; keys rarely change.
    return decode_g2(public_key)


def verify_beacon(info: ChainInfo, round: int, signature: bytes) -> bytes:
    """BLS-verifies the beacon of `round` under `info` and returns its randomness, sha256(signature).

    Raises BeaconError with a sentence naming what is wrong.
    """
    if info.scheme_id != SCHEME_ID:
        raise BeaconError(f"Chain scheme '{info.scheme_id}' is not supported; only {SCHEME_ID} is.")
    message = round_message(round)
    try:
        public_key = _group_key(bytes(info.public_key))
        point = decode_g1(signature)
    except BLSError as exc:
        raise BeaconError(f"Beacon of round {round} is malformed: {exc}") from exc
    if point == G1Point.identity():
        raise BeaconError(f"Beacon of round {round} is malformed: the signature is the point at infinity.")
    if not verify_g1_signature(public_key, message, point):
        raise BeaconError(
            f"Beacon of round {round} does not verify: the signature is not the chain's BLS signature "
            f"of this round (chain {info.hash[:16]}...)."
        )
    return randomness_of(bytes(signature))


def onchain_args(signature48: bytes) -> tuple[bytes, bytes]:
    """(compressed 48 bytes, EIP-2537 128-byte point) for DrandBeacon.recordBeacon/verify."""
    try:
        point = decode_g1(signature48)
    except BLSError as exc:
        raise BeaconError(f"The signature cannot be sent on chain: {exc}") from exc
    return bytes(signature48), g1_to_eip2537(point)


def pubkey_eip2537(pubkey96: bytes) -> bytes:
    """The 256-byte EIP-2537 G2 encoding of a 96-byte compressed group key (DrandBeacon constructor)."""
    try:
        return g2_to_eip2537(decode_g2(pubkey96))
    except BLSError as exc:
        raise BeaconError(f"The public key cannot be sent on chain: {exc}") from exc


def parse_beacon(info: ChainInfo, data: Any, expected_round: int | None = None) -> Beacon:
    """Validates a /public/... JSON answer and returns the verified Beacon."""
    if not isinstance(data, dict):
        raise BeaconError("A beacon must be a JSON object.")
    round = _int_field(data, "round")
    if expected_round is not None and round != expected_round:
        raise BeaconError(f"Asked for round {expected_round} but the relay answered round {round}.")
    signature = _hex_field(data, "signature")
    randomness = verify_beacon(info, round, signature)
    served = data.get("randomness")
    if served is not None and _hex_field(data, "randomness") != randomness:
        raise BeaconError(f"Beacon of round {round} carries randomness that is not sha256(signature).")
    return Beacon(round=round, signature=signature, randomness=randomness)


@dataclass
class _RelayFailure:
    url: str
    reason: str


class DrandClient:
    """drand HTTP client over several relays. Every beacon is BLS-verified before it is returned.

    The trust root is `chain_hash` or `info` (at least one): a relay can never introduce its own key.
    A relay that serves an invalid beacon is skipped for that round and the next relay is asked.
    Network errors and "not yet" answers are retried with exponential backoff.
    """

    def __init__(
        self,
        urls: list[str],
        chain_hash: str | None = None,
        info: ChainInfo | None = None,
        timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 0.25,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not urls:
            raise ValueError("A drand client needs at least one relay URL.")
        if chain_hash is None and info is None:
            raise ValueError(
                "A drand client needs a trusted chain hash or chain info; it never trusts a relay's key."
            )
        if chain_hash is not None:
            chain_hash = chain_hash.lower().removeprefix("0x")
        if info is not None and chain_hash is not None and info.hash != chain_hash:
            raise ChainMismatch(
                f"The given chain info hashes to {info.hash}, not to chain hash {chain_hash}."
            )
        self.urls = [u.rstrip("/") for u in urls]
        self.chain_hash = chain_hash if chain_hash is not None else info.hash  # type: ignore[union-attr]
        self.info_ = info
        self.timeout = timeout
        self.retries = max(1, retries)
        self.backoff = backoff
        self.transport = transport
        self._cache = {}
        self._http = None

    # -- plumbing -----------------------------------------------------------------------------------
    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(timeout=self.timeout, transport=self.transport, follow_redirects=False)
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> DrandClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get_json(self, url: str) -> Any:
        """GET with a size cap; returns parsed JSON or raises httpx/BeaconError."""
        with self._client().stream("GET", url, headers={"Accept": "application/json"}) as resp:
            if resp.status_code != 200:
                raise httpx.HTTPStatusError(f"HTTP {resp.status_code}", request=resp.request, response=resp)
            body = b""
            for chunk in resp.iter_bytes():
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    raise BeaconError(f"The relay answer exceeds {MAX_RESPONSE_BYTES} bytes.")
        try:
            return json.loads(body)
        except ValueError as exc:
            raise BeaconError("The relay answer is not JSON.") from exc

    # -- API ----------------------------------------------------------------------------------------
    def info(self) -> ChainInfo:
        """The chain info, fetched once and checked against the configured chain hash."""
        if self.info_ is not None:
            return self.info_
        failures: list[_RelayFailure] = []
        for attempt in range(self.retries):
            for url in self.urls:
                try:
                    info = ChainInfo.from_json(self._get_json(f"{url}/{self.chain_hash}/info"))
                except (httpx.HTTPError, BeaconError) as exc:
                    failures.append(_RelayFailure(url, str(exc)))
                    continue
                if info.hash != self.chain_hash:
                    failures.append(_RelayFailure(url, f"serves chain {info.hash}"))
                    log.warning("relay %s serves chain %s, not %s; skipped", url, info.hash, self.chain_hash)
                    continue
                if info.scheme_id != SCHEME_ID:
                    raise BeaconError(
                        f"Chain {self.chain_hash} uses scheme {info.scheme_id}; only {SCHEME_ID}."
                    )
                self.info_ = info
                return info
            self._sleep_backoff(attempt)
        raise BeaconUnavailable(
            f"No relay served chain info for chain {self.chain_hash}: " + _describe(failures)
        )

    def get(self, round: int) -> Beacon:
        """The verified beacon of `round`, from the cache or the first relay that serves a valid one."""
        if round in self._cache:
            return self._cache[round]
        if not 1 <= round <= MAX_ROUND:
            raise BeaconError(f"Round {round} is outside 1..2^64-1.")
        info = self.info()
        failures: list[_RelayFailure] = []
        dishonest: set[str] = set()
        for attempt in range(self.retries):
            for url in self.urls:
                if url in dishonest:
                    continue
                try:
                    data = self._get_json(f"{url}/{self.chain_hash}/public/{round}")
                    beacon = parse_beacon(info, data, expected_round=round)
                except httpx.HTTPError as exc:
                    failures.append(_RelayFailure(url, _http_reason(exc)))
                    continue
                except BeaconError as exc:
                    # A relay that serves bytes that fail verification is not asked again for this round.
                    dishonest.add(url)
                    failures.append(_RelayFailure(url, str(exc)))
                    log.warning("relay %s served an invalid beacon for round %d: %s", url, round, exc)
                    continue
                self._cache[round] = beacon
                return beacon
            if len(dishonest) == len(self.urls):
                break
            self._sleep_backoff(attempt)
        raise BeaconUnavailable(
            f"No verified beacon for round {round} of chain {self.chain_hash[:16]}...: " + _describe(failures)
        )

    def latest(self) -> Beacon:
        """The newest verified beacon any relay serves (not cached: it changes every period)."""
        info = self.info()
        failures: list[_RelayFailure] = []
        for url in self.urls:
            try:
                beacon = parse_beacon(info, self._get_json(f"{url}/{self.chain_hash}/public/latest"))
            except (httpx.HTTPError, BeaconError) as exc:
                failures.append(_RelayFailure(url, str(exc)))
                continue
            self._cache[beacon.round] = beacon
            return beacon
        raise BeaconUnavailable("No relay served a verified latest beacon: " + _describe(failures))

    def wait_for(self, round: int, deadline: float) -> Beacon:
        """Blocks until `round` is published and verified, or raises BeaconUnavailable at `deadline`."""
        info = self.info()
        while True:
            now = time.time()
            publish = info.time_of_round(round)
            if now >= publish:
                try:
                    return self.get(round)
                except BeaconUnavailable:
                    if time.time() >= deadline:
                        raise
            if now >= deadline:
                raise BeaconUnavailable(
                    f"Round {round} is due at unix time {publish} but the deadline {deadline:.0f} passed first."
                )
            time.sleep(max(0.05, min(publish - now, deadline - now, info.period / 2)))

    def _sleep_backoff(self, attempt: int) -> None:
        if attempt + 1 < self.retries and self.backoff > 0:
            time.sleep(self.backoff * 2**attempt)


def _http_reason(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        if status == 425:
            return "round not yet published (HTTP 425)"
        return f"HTTP {status}"
    return f"{type(exc).__name__}: {exc}"


def _describe(failures: list[_RelayFailure]) -> str:
    if not failures:
        return "no relay answered."
    last: dict[str, str] = {}
    for f in failures:
        last[f.url] = f.reason
    return "; ".join(f"{url}: {reason}" for url, reason in last.items()) + "."
