"""The drand client against the devnet beacon over real loopback HTTP, with honest and lying relays."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from beacon_helpers import make_devnet
from typer.testing import CliRunner

from node.beacon_cli import beacon_app
from node.devnet.beacon import BeaconServer, DevnetBeacon
from verifier.beacon import (
    QUICKNET_CHAIN_HASH,
    BeaconUnavailable,
    ChainMismatch,
    DrandClient,
    verify_beacon,
)

FORGER_SEED = b"a different key that is not the chain's"


class LyingRelay:
    """A relay that serves the honest chain info but a bad beacon, in one of several ways."""

    def __init__(self, honest: DevnetBeacon, mode: str) -> None:
        self.honest = honest
        self.mode = mode
        self.beacon_requests = 0
        forger = DevnetBeacon.from_seed(FORGER_SEED, genesis_time=honest.genesis_time, period=honest.period)
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                if self.path.endswith("/info"):
                    served = forger.info if relay.mode == "wrong_info" else relay.honest.info
                    body = json.dumps(served.to_json()).encode()
                else:
                    relay.beacon_requests += 1
                    r = int(self.path.rsplit("/", 1)[1])
                    body = json.dumps(relay.answer(r, forger)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def answer(self, r: int, forger: DevnetBeacon) -> object:
        honest = self.honest.sign(r).to_json()
        if self.mode in ("wrong_key", "wrong_info"):
            return forger.sign(r).to_json()
        if self.mode == "wrong_randomness":
            return {**honest, "randomness": "00" * 32}
        if self.mode == "wrong_round":
            return self.honest.sign(r - 1).to_json()
        if self.mode == "huge":
            return {**honest, "padding": "x" * 200_000}
        if self.mode == "garbage":
            return ["not", "a", "beacon"]
        raise AssertionError(self.mode)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_client_verifies_every_beacon_from_the_devnet_server(devnet_server):
    info = devnet_server.beacon.info
    with DrandClient([devnet_server.url], chain_hash=info.hash, backoff=0) as client:
        assert client.info() == info
        for r in range(1, 31):
            beacon = client.get(r)
            assert beacon.round == r
            assert verify_beacon(info, r, beacon.signature) == beacon.randomness
            assert beacon == devnet_server.beacon.sign(r)
        latest = client.latest()
        assert latest.round >= 30


def test_drand_paths_and_shapes(devnet_server):
    info = devnet_server.beacon.info
    base = devnet_server.url
    assert httpx.get(f"{base}/info").json() == info.to_json()
    assert httpx.get(f"{base}/{info.hash}/info").json()["hash"] == info.hash
    assert httpx.get(f"{base}/chains").json() == [info.hash]
    body = httpx.get(f"{base}/public/5").json()
    assert set(body) == {"round", "randomness", "signature"} and body["round"] == 5
    assert httpx.get(f"{base}/{info.hash}/public/latest").json()["round"] >= 30
    assert httpx.get(f"{base}/{'0' * 64}/public/5").status_code == 404
    assert httpx.get(f"{base}/public/0").status_code == 404
    future = devnet_server.beacon.current_round() + 1000
    assert httpx.get(f"{base}/public/{future}").status_code == 425


@pytest.mark.parametrize("mode", ["wrong_key", "wrong_randomness", "wrong_round", "huge", "garbage"])
def test_lying_relay_is_skipped_and_the_next_relay_used(devnet_server, mode):
    liar = LyingRelay(devnet_server.beacon, mode)
    try:
        info = devnet_server.beacon.info
        with DrandClient([liar.url, devnet_server.url], chain_hash=info.hash, backoff=0) as client:
            beacon = client.get(7)
        assert liar.beacon_requests == 1  # asked first, caught, never asked again for that round
        assert beacon == devnet_server.beacon.sign(7)
    finally:
        liar.close()


def test_only_lying_relays_means_unavailable_never_a_fallback(devnet_server):
    liar = LyingRelay(devnet_server.beacon, "wrong_key")
    try:
        info = devnet_server.beacon.info
        with DrandClient([liar.url], chain_hash=info.hash, retries=3, backoff=0) as client:
            with pytest.raises(BeaconUnavailable, match="round 7") as err:
                client.get(7)
        assert "does not verify" in str(err.value)
        assert liar.beacon_requests == 1
    finally:
        liar.close()


def test_relay_serving_another_chain_info_is_skipped(devnet_server):
    liar = LyingRelay(devnet_server.beacon, "wrong_info")
    try:
        info = devnet_server.beacon.info
        with DrandClient([liar.url, devnet_server.url], chain_hash=info.hash, backoff=0) as client:
            assert client.info() == info
        with DrandClient([liar.url], chain_hash=info.hash, retries=1) as client:
            with pytest.raises(BeaconUnavailable, match="serves chain"):
                client.info()
    finally:
        liar.close()


def test_chain_hash_mismatch_is_refused(devnet_server):
    with DrandClient([devnet_server.url], chain_hash=QUICKNET_CHAIN_HASH, retries=1) as client:
        with pytest.raises(BeaconUnavailable, match="chain info"):
            client.get(3)
    other = make_devnet(seed=FORGER_SEED)
    with pytest.raises(ChainMismatch):
        DrandClient([devnet_server.url], chain_hash=devnet_server.beacon.info.hash, info=other.info)


def test_a_relay_of_another_chain_cannot_answer_for_ours(devnet_server):
    """Pinned to another chain, a client gets nothing from a relay of this one (the path names the chain)."""
    forger = make_devnet(seed=FORGER_SEED)
    with DrandClient([devnet_server.url], info=forger.info, retries=1) as client:
        with pytest.raises(BeaconUnavailable, match="HTTP 404"):
            client.get(3)


def test_unreachable_relays_and_future_rounds_are_unavailable(devnet_server):
    info = devnet_server.beacon.info
    with DrandClient([_closed_port_url()], info=info, retries=2, backoff=0.01, timeout=1) as client:
        with pytest.raises(BeaconUnavailable, match="round 3"):
            client.get(3)
    future = devnet_server.beacon.current_round() + 1000
    with DrandClient([devnet_server.url], info=info, retries=1) as client:
        with pytest.raises(BeaconUnavailable, match="not yet published"):
            client.get(future)


def test_client_needs_a_trust_root():
    with pytest.raises(ValueError, match="trusted chain hash"):
        DrandClient(["http://127.0.0.1:1"])


def test_wait_for_blocks_until_the_round_exists():
    with BeaconServer(make_devnet(age=2)) as server:
        info = server.beacon.info
        with DrandClient([server.url], info=info, backoff=0.05) as client:
            target = info.round_at(time.time()) + 1
            beacon = client.wait_for(target, deadline=time.time() + 30)
            assert beacon.round == target
            assert time.time() >= info.time_of_round(target)
            with pytest.raises(BeaconUnavailable, match="deadline"):
                client.wait_for(target + 1000, deadline=time.time() + 0.2)


def test_cli_serve_runs_a_beacon_the_client_verifies(tmp_path):
    key = tmp_path / "beacon.key"
    keygen = CliRunner().invoke(beacon_app, ["keygen", "--out", str(key)])
    assert keygen.exit_code == 0, keygen.output
    public_key = keygen.stdout.strip()
    again = CliRunner().invoke(beacon_app, ["keygen", "--out", str(key)])
    assert again.exit_code == 1 and "refusing" in again.stderr
    genesis = int(time.time()) - 10
    run = [sys.executable, "-c", "from node.beacon_cli import beacon_app; beacon_app()"]
    proc = subprocess.Popen(
        [*run, "serve", "--port", "0", "--period", "1", "--genesis", str(genesis), "--key-file", str(key)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip().rsplit(" ", 1)[1]
        chain_hash = proc.stdout.readline().split()[-1]
        with DrandClient([url], chain_hash=chain_hash) as client:
            assert client.info().public_key.hex() == public_key
            beacon = client.get(5)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    args = ["verify", "--chain", "quicknet", "--public-key", public_key, "--round", "5"]
    out = CliRunner().invoke(beacon_app, [*args, "--signature", beacon.signature.hex()])
    assert out.exit_code == 0, out.output
    assert out.stdout.strip() == beacon.randomness.hex()


def test_cli_verify_prints_randomness_or_fails_with_a_sentence(vectors):
    b = vectors["chains"]["quicknet"]["beacons"][0]
    ok = CliRunner().invoke(beacon_app, ["verify", "--round", "2", "--signature", b["signature"]])
    assert ok.exit_code == 0 and ok.stdout.strip() == b["randomness"]
    bad = CliRunner().invoke(beacon_app, ["verify", "--round", "3", "--signature", b["signature"]])
    assert bad.exit_code == 1
    assert bad.stderr.startswith("error: Beacon of round 3 does not verify")
    junk = CliRunner().invoke(beacon_app, ["verify", "--round", "3", "--signature", "xyz"])
    assert junk.exit_code == 1 and "not valid hex" in junk.stderr
    chain = CliRunner().invoke(beacon_app, ["verify", "--chain", "nope", "--round", "3", "--signature", "00"])
    assert chain.exit_code == 1 and "Unknown chain" in chain.stderr


def test_cli_get_prints_a_verified_beacon_or_a_sentence(devnet_server):
    info = devnet_server.beacon.info
    out = CliRunner().invoke(
        beacon_app, ["get", "--relay", devnet_server.url, "--chain-hash", info.hash, "--round", "9"]
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout) == devnet_server.beacon.sign(9).to_json()
    wrong = CliRunner().invoke(
        beacon_app, ["get", "--relay", devnet_server.url, "--round", "9", "--timeout", "2"]
    )
    assert wrong.exit_code == 1 and wrong.stderr.startswith("error: No relay served chain info")
