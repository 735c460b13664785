"""Request/response of P2PNode: serving and fetching openings, adapters and history (catch-up), with
size, time and rate limits."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo

from .common import (
    AdapterProvider,
    OpeningsHandler,
    Received,
    RequestHandler,
    _parse_peer_addr,
    file_keccak,
)
from .reqresp import (
    ADAPTER_PROTOCOL,
    HISTORY_PROTOCOL,
    MAX_HISTORY_PAGE,
    MAX_OPENING_INDICES,
    OPENINGS_PROTOCOL,
    FrameError,
    RequestError,
    encode_frame,
    expect,
    read_frame,
)
from .validation import TokenBucket
from .wire import KIND_NAMES, RolloutMsg, WireError, decode_payload, encode_payload

log = logging.getLogger("rollproof.p2p")

ADAPTER_PARALLEL = 4  # peers downloading one adapter at once (node/p2p/fanout.py)
ADAPTER_TIMEOUT = 8.0  # s per chunk request (dialling plus at most adapter_chunk_bytes)


class AdapterCorrupt(RequestError):
    """A peer served bytes that do not match the adapter's hash."""


@dataclass(frozen=True)
class AdapterFetch:
    """The downloaded adapter, the peer whose bytes matched, and why the others served nothing."""

    path: Path
    served_by: str
    failed: dict[str, str]


class RequestResponse:
    """Mixin of P2PNode (node/p2p/host.py holds the state it uses)."""

    # ----------------------------------------------------------------- request/response
    def serve(self, protocol: str, handler: RequestHandler) -> None:
        """Answer `protocol` requests with `handler(peer_id, request) -> response` (runs in a worker thread)."""
        self.request_handlers[protocol] = handler
        if self._token is not None:
            self._call_sync(
                lambda: self.host.set_stream_handler(protocol, self._make_stream_handler(protocol))
            )

    def serve_openings(self, handler: OpeningsHandler) -> None:
        """Serve Merkle openings: handler(task_id, miner, [(p, g)]) -> [(rollout, proof)]."""

        def answer(peer: str, req: dict[str, Any]) -> dict[str, Any]:
            task_id = expect(req, "task_id", int, "openings request")
            miner = expect(req, "miner", str, "openings request")
            indices = expect(req, "indices", list, "openings request")
            if len(indices) > MAX_OPENING_INDICES:
                raise FrameError(f"at most {MAX_OPENING_INDICES} indices per request")
            pairs = []
            for item in indices:
                if type(item) is not list or len(item) != 2 or not all(type(v) is int for v in item):
                    raise FrameError("indices must be [p, g] integer pairs")
                pairs.append((item[0], item[1]))
            result = handler(task_id, miner, pairs)
            return {"openings": [[encode_payload(r), [bytes(h) for h in proof]] for r, proof in result]}

        self.serve(OPENINGS_PROTOCOL, answer)

    def serve_adapters(self, provider: AdapterProvider) -> None:
        """Serve adapter files by hash: provider(hash32) -> path of the file, or None."""
        chunk_max = self.config.adapter_chunk_bytes

        def answer(peer: str, req: dict[str, Any]) -> dict[str, Any]:
            digest = expect(req, "hash", bytes, "adapter request")
            offset = expect(req, "offset", int, "adapter request")
            length = min(expect(req, "length", int, "adapter request"), chunk_max)
            path = provider(digest) if len(digest) == 32 else None
            if path is None:
                raise FrameError(f"no adapter with hash 0x{digest.hex()}")
            with open(path, "rb") as fh:
                fh.seek(0, 2)
                total = fh.tell()
                if not 0 <= offset <= total or length < 0:
                    raise FrameError(f"offset {offset} is outside the adapter (size {total})")
                fh.seek(offset)
                data = fh.read(length)
            return {"total": total, "data": data}

        self.serve(ADAPTER_PROTOCOL, answer)

    def _serve_history(self, peer: str, req: dict[str, Any]) -> dict[str, Any]:
        topic = expect(req, "topic", str, "history request")
        offset = expect(req, "offset", int, "history request")
        limit = min(expect(req, "limit", int, "history request"), MAX_HISTORY_PAGE)
        items = list(self.history.get(topic, ()))
        total = self.history_total.get(topic, 0)
        first = total - len(items)  # sequence number of items[0]; older ones fell out of the deque
        start = max(offset, first)
        page: list[bytes] = []
        size = 0
        for data in items[start - first : start - first + max(0, limit)]:
            size += len(data) + 8
            if size > self.config.max_response_bytes // 2:
                break
            page.append(data)
        return {"envelopes": page, "total": total, "next": start + len(page), "epoch": self.epoch}

    def _make_stream_handler(self, protocol: str) -> Callable[[Any], Any]:
        async def handle(stream: Any) -> None:
            peer = stream.muxed_conn.peer_id.to_base58()
            try:
                bucket = self.request_buckets.get((peer, protocol))
                if bucket is None:
                    bucket = TokenBucket(self.config.requests_per_peer_per_s, self.config.requests_burst)
                    self.request_buckets[(peer, protocol)] = bucket
                with trio.fail_after(self.config.request_timeout):
                    if stream.muxed_conn.peer_id in self.graylisted:
                        response = {"error": "graylisted: this peer sent invalid gossip"}
                        outcome = "rate_limited"
                    elif not bucket.take():
                        response = {"error": "rate limited: too many requests from this peer"}
                        outcome = "rate_limited"
                    else:
                        try:
                            request = await read_frame(stream, self.config.max_request_bytes)
                            handler = self.request_handlers.get(protocol)
                            if handler is None:
                                raise FrameError(f"this node does not serve {protocol}")
                            response = await trio.to_thread.run_sync(handler, peer, request)
                            outcome = "ok"
                        except (FrameError, WireError, ValueError) as exc:
                            response = {"error": str(exc)}
                            outcome = "bad_request"
                    try:
                        frame = encode_frame(response, self.config.max_response_bytes)
                    except FrameError as exc:
                        frame = encode_frame({"error": str(exc)}, self.config.max_response_bytes)
                        outcome = "oversize"
                    await stream.write(frame)
                self.metrics.requests.labels(protocol, "server", outcome).inc()
            except Exception as exc:
                self.metrics.requests.labels(protocol, "server", "error").inc()
                log.debug("serving %s to %s failed: %r", protocol, peer, exc)
            finally:
                try:
                    await stream.close()
                except Exception:
                    pass

        return handle

    def request(
        self, peer: str, protocol: str, payload: dict[str, Any], timeout: float | None = None
    ) -> dict:
        """Send one request and return the response map; raise RequestError with a readable cause."""
        return self._call(self._request, peer, protocol, payload, timeout or self.config.request_timeout)

    async def _request(self, peer: str, protocol: str, payload: dict[str, Any], timeout: float) -> dict:
        if peer.startswith("/"):
            info = _parse_peer_addr(peer)
        else:
            try:
                info = PeerInfo(ID.from_base58(peer), [])
            except Exception:
                raise RequestError(f"{peer!r} is neither a peer id nor a /p2p/ multiaddr") from None
            if info.peer_id not in self.host.get_connected_peers():
                # Dial by address: from the peer's signed record (peer exchange) or our targets.
                addrs = self.known_addresses(peer)
                if not addrs:
                    raise RequestError(
                        f"no address known for peer {peer} (not connected, no address record); "
                        "is it running and reachable from a bootstrap peer?"
                    )
                info = PeerInfo(info.peer_id, [_parse_peer_addr(a).addrs[0] for a in addrs])
        start = time.monotonic()
        outcome = "error"
        try:
            with trio.fail_after(timeout):
                # Connected already: reuse it (a relayed connection would otherwise be dialled anew).
                if info.peer_id not in self.host.get_connected_peers():
                    network = self.host.get_network()
                    if hasattr(network, "unblock_peer"):
                        network.unblock_peer(info.peer_id)
                    await self._connect(info)
                stream = await self.host.new_stream(info.peer_id, [protocol])
                try:
                    await stream.write(encode_frame(payload, self.config.max_request_bytes))
                    response = await read_frame(stream, self.config.max_response_bytes)
                finally:
                    try:
                        await stream.close()
                    except Exception:
                        pass
            if "error" in response:
                outcome = "remote_error"
                raise RequestError(f"peer {info.peer_id} refused {protocol}: {response['error']}")
            outcome = "ok"
            return response
        except trio.TooSlowError:
            outcome = "timeout"
            raise RequestError(
                f"peer {info.peer_id} did not answer {protocol} within {timeout:.0f} s"
            ) from None
        except FrameError as exc:
            outcome = "bad_response"
            raise RequestError(f"peer {info.peer_id} sent a bad {protocol} reply: {exc}") from None
        except RequestError:
            raise
        except Exception as exc:
            raise RequestError(
                f"request {protocol} to {info.peer_id} failed: {exc or type(exc).__name__}"
            ) from None
        finally:
            self.metrics.requests.labels(protocol, "client", outcome).inc()
            self.metrics.request_latency.labels(protocol).observe(time.monotonic() - start)

    def fetch_openings(
        self,
        peer: str,
        task_id: int,
        miner: str,
        indices: list[tuple[int, int]],
        timeout: float | None = None,
    ) -> list[tuple[RolloutMsg, list[bytes]]]:
        """Fetch rollouts (p, g) of `miner` with their Merkle proofs (checked by the caller against the
        root); `timeout` (default `request_timeout`) bounds dialling and the reply together."""
        if len(indices) > MAX_OPENING_INDICES:
            raise ValueError(f"at most {MAX_OPENING_INDICES} indices per openings request")
        reply = self.request(
            peer,
            OPENINGS_PROTOCOL,
            {"task_id": task_id, "miner": miner, "indices": [list(i) for i in indices]},
            timeout,
        )
        out = []
        try:
            for body, proof in expect(reply, "openings", list, "openings reply"):
                rollout = decode_payload(0, body, self.config.max_tokens)
                if not isinstance(rollout, RolloutMsg) or rollout.task_id != task_id:
                    raise RequestError("openings reply holds a rollout of another task")
                if not all(type(h) is bytes and len(h) == 32 for h in proof):
                    raise RequestError("openings reply holds a malformed Merkle proof")
                out.append((rollout, list(proof)))
        except (FrameError, WireError, TypeError, ValueError) as exc:
            raise RequestError(f"peer {peer} sent malformed openings: {exc}") from None
        return out

    def fetch_history(self, peer: str, topic: str) -> int:
        """Catch up on `topic` from a peer's history; every envelope is re-validated. Returns new deliveries."""
        return self._call(self._fetch_history, peer, topic)

    async def _fetch_history(self, peer: str, topic: str) -> int:
        # Resume from where we stopped on this peer (same epoch), else from its oldest envelope.
        peer_key = peer.split("/p2p/")[-1]
        epoch, offset = self.history_cursor.get((peer_key, topic), (None, 0))
        new = 0
        while True:
            reply = await self._request(
                peer,
                HISTORY_PROTOCOL,
                {"topic": topic, "offset": offset, "limit": MAX_HISTORY_PAGE},
                self.config.request_timeout,
            )
            envelopes, nxt, their_epoch = reply.get("envelopes"), reply.get("next"), reply.get("epoch")
            if type(envelopes) is not list or type(nxt) is not int:
                raise RequestError(f"peer {peer} sent a malformed history page")
            if epoch is not None and their_epoch != epoch:
                # The peer restarted: its numbering starts again at 0.
                epoch, offset = their_epoch, 0
                continue
            epoch = their_epoch
            for data in envelopes:
                if type(data) is not bytes or self.validator.known_envelope(topic, data):
                    continue
                accepted = self.validator.check_counted(
                    topic, data, self.metrics.reject, count_duplicates=False
                )
                if accepted is None:
                    continue
                new += 1
                self._remember(topic, data)
                latency = time.time() - accepted.envelope.sent_ms / 1000
                self.metrics.delivered(KIND_NAMES[accepted.envelope.kind], len(data), latency)
                self._deliver(
                    Received(topic, accepted.payload, accepted.signer, "", accepted.envelope.sent_ms, data)
                )
            if topic in self.handlers:
                self.history_cursor[(peer_key, topic)] = (epoch, max(offset, nxt))
            if not envelopes or nxt <= offset:
                return new
            offset = nxt

    def catch_up(self, topic: str) -> int:
        """fetch_history from every connected peer (a late joiner's first step, and the repair
        before an audit with missing gossip); returns new deliveries."""
        return self._call(self._catch_up, topic)

    async def _catch_up(self, topic: str) -> int:
        new = 0
        for peer in self.host.get_connected_peers():
            try:
                new += await self._fetch_history(peer.to_base58(), topic)
            except Exception as err:  # noqa: BLE001 - one peer failing must not stop the others
                log.warning("could not catch up on %s from %s: %s", topic, peer, err)
        return new

    def fetch_adapter(self, *args: Any, **kwargs: Any) -> Path:
        """`collect_adapter(...).path` (same arguments): the adapter file, downloaded from the first
        peer that served bytes matching the hash."""
        return self.collect_adapter(*args, **kwargs).path

    def collect_adapter(
        self,
        peers: str | Sequence[str],
        adapter_hash: bytes,
        dest: Path,
        attempts: int = 3,
        verify: Callable[[Path, bytes], bool] | None = None,
        max_bytes: int | None = None,
        parallel: int = ADAPTER_PARALLEL,
        timeout: float = ADAPTER_TIMEOUT,
    ) -> AdapterFetch:
        """Download an adapter by its content hash into `dest`, asking `peers` in order, `parallel`
        at a time (node/p2p/fanout.py), each chunk request bounded by `timeout` s; the first
        download whose bytes match the hash wins (content-addressed: any holder's copy is as good
        as the miner's) and downloads still running are abandoned at their next chunk.

        Each peer downloads into its own `<dest>.<peer>.part`, resumed when one is left from an
        interrupted run. `verify(path, hash)` decides whether the downloaded file matches; the
        default is keccak256(file bytes) == hash (a canonical tensor hash, verifier.models, plugs in
        here). `max_bytes` (default `config.max_adapter_bytes`) bounds what one peer may make us
        store. With one peer, `attempts` tries it that often; with several, each is asked once.
        """
        from .fanout import ask_peers

        check = verify or (lambda path, digest: file_keccak(path) == digest)
        limit = self.config.max_adapter_bytes if max_bytes is None else max_bytes
        # One download per peer (its part file is named by its id), whichever form names it first.
        by_id: dict[str, str] = {}
        for peer in [peers] if isinstance(peers, str) else peers:
            by_id.setdefault(peer.split("/p2p/")[-1], peer)
        sources = list(by_id.values())
        if not sources:
            raise RequestError(f"no peer to fetch adapter 0x{adapter_hash.hex()} from")
        digest = bytes(adapter_hash)
        dest = Path(dest)
        stop = threading.Event()
        won: list[str] = []
        failed: dict[str, str] = {}

        def part_of(peer: str) -> Path:
            return dest.with_name(f"{dest.name}.{peer.split('/p2p/')[-1]}.part")

        def download(peer: str) -> Callable[[], bool]:
            return lambda: self._download_checked(peer, digest, part_of(peer), limit, timeout, check, stop)

        def take(peer: str, matched: bool) -> None:
            if not won:
                part_of(peer).replace(dest)
                won.append(peer)

        def fail(peer: str, exc: Exception) -> None:
            if isinstance(exc, AdapterCorrupt):
                self.metrics.count("adapter_corrupt")
                log.warning("adapter 0x%s from %s failed its hash check; asking others", digest.hex(), peer)
            else:
                log.info("adapter 0x%s not fetched from %s: %s", digest.hex(), peer, exc)
            failed[peer] = str(exc)

        rounds = attempts if len(sources) == 1 else 1
        try:
            for _ in range(max(1, rounds)):
                ask_peers(sources, download, take, lambda: bool(won), fail, parallel, "adapter")
                if won:
                    return AdapterFetch(dest, won[0], failed)
        finally:
            stop.set()  # downloads still running end at their next chunk
            for peer in sources:
                if not won or peer != won[0]:
                    part_of(peer).unlink(missing_ok=True)
        raise RequestError(
            f"adapter 0x{digest.hex()} could not be fetched from {len(sources)} peer(s): "
            + "; ".join(list(failed.values())[-3:])
        )

    def _download_checked(
        self,
        peer: str,
        digest: bytes,
        part: Path,
        limit: int,
        timeout: float,
        check: Callable[[Path, bytes], bool],
        stop: threading.Event,
    ) -> bool:
        """Download from `peer` into `part` (resuming it) and check the bytes against the hash;
        raise AdapterCorrupt when they do not match, RequestError when the peer fails. Part files
        are removed by collect_adapter when it ends (a failed one is resumed by the next attempt);
        here only a corrupt one, and nothing once `stop` is set (the name may be reused by then)."""
        # Bytes resumed from an interrupted run may be what broke the hash: then once more from 0.
        for fresh in (False, True):
            resumed = part.exists() and part.stat().st_size > 0
            self._download_adapter(peer, digest, part, limit, timeout, stop)
            matched = not stop.is_set() and check(part, digest)
            if stop.is_set():
                raise RequestError(f"another peer served adapter 0x{digest.hex()} first")
            if matched:
                return True
            part.unlink()
            if not (resumed and not fresh):
                break
        raise AdapterCorrupt(f"peer {peer} served bytes that fail the hash check")

    def _download_adapter(
        self,
        peer: str,
        adapter_hash: bytes,
        part: Path,
        limit: int,
        timeout: float | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        """Append the adapter's remaining chunks from `peer` to `part` (resuming at its size)."""
        if stop is not None and stop.is_set():
            raise RequestError(f"another peer served adapter 0x{adapter_hash.hex()} first")
        offset = part.stat().st_size if part.exists() else 0
        total: int | None = None
        with open(part, "ab") as fh:
            while total is None or offset < total:
                if stop is not None and stop.is_set():
                    raise RequestError(f"another peer served adapter 0x{adapter_hash.hex()} first")
                reply = self.request(
                    peer,
                    ADAPTER_PROTOCOL,
                    {"hash": adapter_hash, "offset": offset, "length": self.config.adapter_chunk_bytes},
                    timeout,
                )
                size, data = reply.get("total"), reply.get("data")
                if type(size) is not int or type(data) is not bytes or (not data and offset < size):
                    raise RequestError(f"peer {peer} sent a malformed adapter chunk")
                if size > limit:
                    raise RequestError(f"peer {peer} offers a {size}-byte adapter; the limit is {limit}")
                if total is not None and size != total:
                    raise RequestError(f"peer {peer} changed the adapter's size mid-transfer")
                if offset + len(data) > size:
                    raise RequestError(f"peer {peer} sent more bytes than the adapter's size")
                total = size
                fh.write(data)
                offset += len(data)
                self.metrics.count("adapter_bytes_in", len(data))
