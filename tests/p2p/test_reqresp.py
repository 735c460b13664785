"""Request/response over real hosts: adapters by hash (chunked, resumable, corruption retried), openings, limits."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from node.p2p import P2PNode, RequestError, file_keccak
from node.p2p.reqresp import ADAPTER_PROTOCOL
from tests.p2p.helpers import account_key, address, identity_secret, local_config, make_rollout, staked_set

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def pair():
    staked = staked_set([0, 1])
    server = P2PNode(
        local_config(requests_per_peer_per_s=1000.0, requests_burst=1000.0),
        account_key(0),
        staked,
        identity_secret(0),
    )
    server.start()
    client = P2PNode(
        local_config(bootstrap=server.listen_addrs, adapter_chunk_bytes=256 * 1024),
        account_key(1),
        staked,
        identity_secret(1),
    )
    client.start()
    yield server, client
    client.stop()
    server.stop()


def test_adapter_by_hash_with_corruption_detected_and_retried(pair, tmp_path: Path):
    server, client = pair
    good = tmp_path / "adapter.safetensors"
    good.write_bytes(os.urandom(3 * 1024 * 1024 + 123))
    bad = tmp_path / "corrupt.safetensors"
    data = bytearray(good.read_bytes())
    data[1_500_000] ^= 0xFF  # one flipped byte in the middle of the stream
    bad.write_bytes(bytes(data))
    digest = file_keccak(good)
    chunks = -(-good.stat().st_size // (256 * 1024))
    served = []

    def provider(h: bytes) -> Path | None:
        if h != digest:
            return None
        # The first full pass comes from a corrupted copy, as if a peer or a link mangled it.
        served.append(1)
        return bad if len(served) <= chunks else good

    server.serve_adapters(provider)
    before = client.stats()
    dest = client.fetch_adapter(server.listen_addrs[0], digest, tmp_path / "a.bin")
    assert dest.read_bytes() == good.read_bytes()
    assert file_keccak(dest) == digest
    assert not list(tmp_path.glob("a.bin*.part"))
    assert client.metrics.counts["adapter_corrupt"] == 1
    assert client.metrics.counts["adapter_bytes_in"] >= 2 * good.stat().st_size
    assert before["peers"] == 1


def test_adapter_download_resumes_from_partial_file(pair, tmp_path: Path):
    server, client = pair
    blob = tmp_path / "b.bin"
    blob.write_bytes(os.urandom(2 * 1024 * 1024))
    digest = file_keccak(blob)
    server.serve_adapters(lambda h: blob if h == digest else None)
    part = tmp_path / f"out.bin.{server.peer_id.to_base58()}.part"  # one part file per peer
    part.write_bytes(blob.read_bytes()[: 1024 * 1024 + 7])  # an interrupted earlier download
    start = client.metrics.counts["adapter_bytes_in"]
    out = client.fetch_adapter(server.peer_id.to_base58(), digest, tmp_path / "out.bin")
    assert out.read_bytes() == blob.read_bytes()
    assert client.metrics.counts["adapter_bytes_in"] - start == blob.stat().st_size - (1024 * 1024 + 7)


def test_unknown_adapter_and_unserved_protocol_are_clear_errors(pair, tmp_path: Path):
    server, client = pair
    server.serve_adapters(lambda h: None)
    with pytest.raises(RequestError, match="no adapter with hash 0x"):
        client.fetch_adapter(server.listen_addrs[0], b"\x11" * 32, tmp_path / "x.bin")
    with pytest.raises(RequestError):
        client.request(server.listen_addrs[0], "/rollproof/nothing/1.0.0", {"a": 1}, timeout=10)
    with pytest.raises(RequestError, match="neither a peer id"):
        client.request("not-a-peer", ADAPTER_PROTOCOL, {})


def test_openings_round_trip_and_bad_request(pair):
    server, client = pair
    store = {(p, g): make_rollout(3, 0, p, g) for p in range(4) for g in range(2)}

    def openings(task_id: int, miner: str, indices: list[tuple[int, int]]):
        assert task_id == 3 and miner == address(0)
        return [(store[i], [bytes([p]) * 32 for p in range(5)]) for i in indices]

    server.serve_openings(openings)
    got = client.fetch_openings(server.listen_addrs[0], 3, address(0), [(1, 0), (3, 1)])
    assert [(r.p, r.g, r.tokens, r.prompt_ids, r.miner) for r, _ in got] == [
        (k[0], k[1], store[k].tokens, store[k].prompt_ids, address(0)) for k in [(1, 0), (3, 1)]
    ]
    assert all(len(proof) == 5 for _, proof in got)
    with pytest.raises(RequestError, match="indices must be"):
        client.request(
            server.listen_addrs[0],
            "/rollproof/openings/1.0.0",
            {"task_id": 3, "miner": address(0), "indices": [[1]]},
        )


def test_per_peer_request_rate_limit(tmp_path: Path):
    staked = staked_set([0, 1])
    server = P2PNode(
        local_config(requests_per_peer_per_s=0.5, requests_burst=3.0),
        account_key(0),
        staked,
        identity_secret(4),
    )
    server.serve("/rollproof/echo/1.0.0", lambda peer, req: {"echo": req["x"]})  # before start(): kept
    server.start()
    client = P2PNode(local_config(), account_key(1), staked, identity_secret(5)).start()
    try:
        outcomes = []
        for i in range(6):
            try:
                outcomes.append(
                    client.request(server.listen_addrs[0], "/rollproof/echo/1.0.0", {"x": i})["echo"]
                )
            except RequestError as err:
                outcomes.append(str(err))
        assert outcomes[:3] == [0, 1, 2]
        assert sum("rate limited" in str(o) for o in outcomes[3:]) >= 2
    finally:
        client.stop()
        server.stop()


def test_slow_and_oversized_answers_fail_with_sentences(pair):
    server, client = pair
    server.serve("/rollproof/slow/1.0.0", lambda peer, req: time.sleep(3) or {"late": True})
    server.serve("/rollproof/huge/1.0.0", lambda peer, req: {"blob": b"x" * (9 * 1024 * 1024)})
    with pytest.raises(RequestError, match="did not answer /rollproof/slow/1.0.0 within 1 s"):
        client.request(server.listen_addrs[0], "/rollproof/slow/1.0.0", {}, timeout=1.0)
    with pytest.raises(RequestError, match="exceeds the"):
        client.request(server.listen_addrs[0], "/rollproof/huge/1.0.0", {})
    # the connection survives both
    server.serve("/rollproof/echo/1.0.0", lambda peer, req: {"echo": req["x"]})
    assert client.request(server.listen_addrs[0], "/rollproof/echo/1.0.0", {"x": 5})["echo"] == 5


def test_adapter_from_any_peer_a_peer_serving_wrong_bytes_is_ignored(pair, tmp_path: Path):
    """Content-addressed: the client asks a liar first (it serves other bytes under the hash), then
    a peer holding the right copy; the liar's bytes fail the hash and are thrown away."""
    server, client = pair
    right = tmp_path / "right.bin"
    right.write_bytes(os.urandom(700 * 1024))
    wrong = tmp_path / "wrong.bin"
    wrong.write_bytes(os.urandom(700 * 1024))
    digest = file_keccak(right)
    liar = P2PNode(
        local_config(bootstrap=server.listen_addrs), account_key(2), staked_set([0, 1]), identity_secret(2)
    )
    liar.start()
    try:
        liar.serve_adapters(lambda h: wrong if h == digest else None)
        server.serve_adapters(lambda h: right if h == digest else None)
        corrupt = client.metrics.counts["adapter_corrupt"]
        # One at a time, so the liar's download surely ends (asked at once, the right copy may
        # win first and the liar's download be abandoned unchecked).
        out = client.fetch_adapter(
            [liar.listen_addrs[0], server.listen_addrs[0]], digest, tmp_path / "got.bin", parallel=1
        )
        assert out.read_bytes() == right.read_bytes()
        assert client.metrics.counts["adapter_corrupt"] == corrupt + 1
        # Only liars: a clear error naming the cause, nothing left behind.
        with pytest.raises(RequestError, match="fail the hash check"):
            client.fetch_adapter([liar.listen_addrs[0]], digest, tmp_path / "none.bin", attempts=1)
        assert not (tmp_path / "none.bin").exists() and not list(tmp_path.glob("none.bin*.part"))
    finally:
        liar.stop()


def test_adapter_larger_than_the_limit_is_refused_before_it_is_stored(pair, tmp_path: Path):
    server, client = pair
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(600 * 1024))
    digest = file_keccak(big)
    server.serve_adapters(lambda h: big if h == digest else None)
    with pytest.raises(RequestError, match="offers a 614400-byte adapter; the limit is 102400"):
        client.fetch_adapter(server.listen_addrs[0], digest, tmp_path / "big-out.bin", max_bytes=100 * 1024)
    assert not list(tmp_path.glob("big-out.bin*.part"))
