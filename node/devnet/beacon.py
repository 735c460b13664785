"""A local drand-compatible HTTP beacon for devnets.

It signs round r with its own BLS key in exactly drand's `bls-unchained-g1-rfc9380` scheme and serves
drand's HTTP shapes (`/info`, `/public/latest`, `/public/{round}`, also under `/{chainhash}/...`), so
the same `DrandClient` and the same `DrandBeacon` contract verify it. A round is served only once its
time has come (HTTP 425 "Too Early" before, as drand relays answer), so nobody, not even the devnet
operator's own nodes, can read a future beacon over HTTP. See docs/PROTOCOL.md §4.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from chain.beacon_key import DEVNET_SEED
from verifier.beacon import (
    SCHEME_ID,
    Beacon,
    ChainInfo,
    onchain_args,
    pubkey_eip2537,
    randomness_of,
    round_message,
)
from verifier.bls import public_key_of, secret_key_from_seed, sign_g1

DEVNET_BEACON_ID = "rollproof-devnet"
DEVNET_PERIOD = 3
# Genesis of the committed forge fixture (contracts/test/fixtures/devnet_beacons.json).
DEVNET_FIXTURE_GENESIS = 1_700_000_000
MAX_SERVED_ROUND = 2**63


@dataclass
class DevnetBeacon:
    """A drand chain of one signer: chain info plus on-demand, cached signatures."""

    secret_key: int
    genesis_time: int
    period: int = DEVNET_PERIOD
    beacon_id: str = DEVNET_BEACON_ID
    clock: Callable[[], float] = time.time
    _cache: dict[int, Beacon] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        public_key = public_key_of(self.secret_key).to_compressed_bytes()
        # drand's group hash commits to the group file; a one-signer devnet commits to its key.
        group_hash = hashlib.sha256(b"rollproof.devnet.group.v1" + public_key).digest()
        self.info = ChainInfo(
            public_key=public_key,
            period=self.period,
            genesis_time=self.genesis_time,
            group_hash=group_hash,
            scheme_id=SCHEME_ID,
            beacon_id=self.beacon_id,
        )

    @classmethod
    def from_seed(cls, seed: bytes = DEVNET_SEED, **kwargs: Any) -> DevnetBeacon:
        return cls(secret_key=secret_key_from_seed(seed), **kwargs)

    def current_round(self) -> int:
        return self.info.round_at(self.clock())

    def sign(self, round: int) -> Beacon:
        """The beacon of `round`, whether or not its time has come (the server enforces the clock)."""
        with self._lock:
            cached = self._cache.get(round)
        if cached is not None:
            return cached
        signature = sign_g1(self.secret_key, round_message(round)).to_compressed_bytes()
        beacon = Beacon(round=round, signature=signature, randomness=randomness_of(signature))
        with self._lock:
            self._cache[round] = beacon
        return beacon


_PUBLIC = re.compile(r"^(?:/(?P<hash>[0-9a-f]{64}))?/public/(?P<which>latest|[0-9]{1,20})$")
_INFO = re.compile(r"^(?:/(?P<hash>[0-9a-f]{64}))?/info$")


class _Handler(BaseHTTPRequestHandler):
    server: _BeaconHTTPServer
    protocol_version = "HTTP/1.1"
    # Headers and body leave in one segment: with separate small writes, Nagle plus delayed ACKs add
    # ~40 ms to every keep-alive request.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if self.server.verbose:
            sys.stderr.write("beacon: " + (format % args) + "\n")

    def _send(self, status: int, body: Any, max_age: int | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if max_age is not None:
            self.send_header("Cache-Control", f"public, max-age={max_age}")
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        beacon = self.server.beacon
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        if path == "/chains":
            return self._send(200, [beacon.info.hash])
        if path == "/health":
            return self._send(200, {"status": 200, "current": beacon.current_round()})
        m = _INFO.match(path)
        if m:
            if m.group("hash") not in (None, beacon.info.hash):
                return self._send(404, {"error": "unknown chain hash"})
            return self._send(200, beacon.info.to_json(), max_age=3600)
        m = _PUBLIC.match(path)
        if m:
            if m.group("hash") not in (None, beacon.info.hash):
                return self._send(404, {"error": "unknown chain hash"})
            current = beacon.current_round()
            which = m.group("which")
            round = current if which == "latest" else int(which)
            if round < 1 or round > MAX_SERVED_ROUND:
                return self._send(404, {"error": "no such round"})
            if round > current:
                return self._send(425, {"error": f"round {round} is in the future (current {current})"})
            return self._send(
                200, beacon.sign(round).to_json(), max_age=beacon.period if which == "latest" else 3600
            )
        return self._send(404, {"error": "not found"})


class _BeaconHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], beacon: DevnetBeacon, verbose: bool) -> None:
        super().__init__(address, _Handler)
        self.beacon = beacon
        self.verbose = verbose


class BeaconServer:
    """Runs a DevnetBeacon over HTTP in a background thread (tests) or in the foreground (CLI)."""

    def __init__(self, beacon: DevnetBeacon, host: str = "127.0.0.1", port: int = 0, verbose: bool = False):
        self.beacon = beacon
        self._httpd = _BeaconHTTPServer((host, port), beacon, verbose)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host = self._httpd.server_address[0]
        return f"http://{host}:{self.port}"

    def start(self) -> BeaconServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="devnet-beacon", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> BeaconServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def devnet_fixture(
    rounds: int = 64, genesis: int = DEVNET_FIXTURE_GENESIS, seed: bytes = DEVNET_SEED
) -> dict:
    """The devnet chain and beacons 1..rounds in every encoding the contract tests need."""
    beacon = DevnetBeacon.from_seed(seed, genesis_time=genesis, period=DEVNET_PERIOD)
    entries = []
    for r in range(1, rounds + 1):
        b = beacon.sign(r)
        _, point = onchain_args(b.signature)
        entries.append(
            {
                "round": r,
                "signature": b.signature.hex(),
                "signature_point": point.hex(),
                "randomness": b.randomness.hex(),
            }
        )
    info = beacon.info
    return {
        "about": "Devnet drand beacons signed by node/devnet/beacon.py with DEVNET_SEED; regenerate with "
        "`python -m node.devnet.beacon fixture contracts/test/fixtures`.",
        "scheme": SCHEME_ID,
        "chain_hash": info.hash,
        "public_key": info.public_key.hex(),
        "public_key_eip2537": pubkey_eip2537(info.public_key).hex(),
        "genesis_time": info.genesis_time,
        "period": info.period,
        "beacons": entries,
    }


def eip2537_encodings(vectors: dict) -> dict:
    """EIP-2537 encodings of the keys and signatures in a drand vector file (drand_quicknet.json shape).

    Solidity tests cannot decompress points, so Python expands them once; the contract still checks that
    the compressed bytes and the point agree.
    """
    keys: dict[str, str] = {}
    points: dict[str, str] = {}
    for name, chain in vectors["chains"].items():
        keys[name] = pubkey_eip2537(bytes.fromhex(chain["public_key"])).hex()
        for b in chain["beacons"]:
            points[f"{name}_{b['round']}"] = onchain_args(bytes.fromhex(b["signature"]))[1].hex()
    return {
        "about": "EIP-2537 encodings of drand_quicknet.json, written by "
        "`python -m node.devnet.beacon fixture ...`.",
        "public_keys": keys,
        "signature_points": points,
    }


QUICKNET_VECTORS = "drand_quicknet.json"
DEVNET_FIXTURE = "devnet_beacons.json"
ENCODED_VECTORS = "drand_quicknet_eip2537.json"


def write_fixtures(directory: str | Path, rounds: int = 64) -> list[Path]:
    """Writes devnet_beacons.json and the EIP-2537 encodings of drand_quicknet.json into `directory`."""
    d = Path(directory)
    devnet = d / DEVNET_FIXTURE
    devnet.write_text(json.dumps(devnet_fixture(rounds), indent=1) + "\n")
    encoded = d / ENCODED_VECTORS
    vectors = json.loads((d / QUICKNET_VECTORS).read_text())
    encoded.write_text(json.dumps(eip2537_encodings(vectors), indent=1) + "\n")
    return [devnet, encoded]


def main(argv: list[str] | None = None) -> int:
    """`python -m node.devnet.beacon fixture DIR [ROUNDS]` writes the forge fixtures into DIR."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (2, 3) or args[0] != "fixture":
        sys.stderr.write("usage: python -m node.devnet.beacon fixture DIR [ROUNDS]\n")
        return 2
    rounds = int(args[2]) if len(args) == 3 else 64
    for path in write_fixtures(args[1], rounds):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
