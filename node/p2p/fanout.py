"""Ask peers for the same thing a few at a time (PROTOCOL.md §8.5): the pattern shared by openings
(node/roles/openings.py) and adapters (`RequestResponse.collect_adapter`).

Asked one after the other, a peer that is down or never answers costs the whole request timeout
before the next one is asked; asked `parallel` at a time, a dead peer only holds one of the slots
while the others answer. The caller says what to ask each peer when its turn comes (`start`, in
the caller's thread, so it can ask only for what is still missing), what to keep of an answer
(`take`, in the caller's thread too) and when it has enough (`done`); requests still in flight
then are left to end by their own timeout: nobody waits for them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")

PARALLEL = 4  # peers asked at once


def ask_peers(
    peers: Iterable[str],
    start: Callable[[str], Callable[[], T]],
    take: Callable[[str, T], None],
    done: Callable[[], bool],
    failed: Callable[[str, Exception], None],
    parallel: int = PARALLEL,
    name: str = "ask",
) -> None:
    """Run `start(peer)()` for each peer in order (duplicates once), at most `parallel` at once,
    handing each answer to `take(peer, answer)` and each exception to `failed(peer, exc)`, until
    `done()` or every peer has answered or failed."""
    todo = list(dict.fromkeys(peers))
    slots = max(1, parallel)
    running: dict[Future[T], str] = {}
    pool = ThreadPoolExecutor(max_workers=slots, thread_name_prefix=name)
    try:
        while not done() and (todo or running):
            while todo and len(running) < slots:
                peer = todo.pop(0)
                running[pool.submit(start(peer))] = peer
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                peer = running.pop(future)
                try:
                    answer = future.result()
                except Exception as exc:  # noqa: BLE001 - RequestError, timeout: this peer cannot serve
                    failed(peer, exc)
                    continue
                take(peer, answer)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
