"""Openings from any peer (PROTOCOL.md §8.5): the validator asks several peers at once for a miner's
challenged openings, each with a short timeout, and takes for each challenged rollout the first
answer that is that rollout under the committed root.

Asked one after the other, a peer that is down or never answers cost the whole request timeout
each (up to MAX_HOLDERS of them); asked OPENINGS_PARALLEL at a time with OPENINGS_TIMEOUT each, a
dead peer only holds one of the slots while the others answer, and the search ends as soon as
every challenged rollout has a valid answer (requests still in flight are left to time out).
Nothing a third peer says is trusted: an opening that is not the challenged (task, miner, p, g)
with a proof under the committed root is ignored. The miner's own wrong answer is kept when no
peer has a right one, because that one is the miner's fault and its audit must say so."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from node.runtime.network import from_wire
from verifier.commitments import leaf_hash, verify_proof
from verifier.rollout import Rollout

log = logging.getLogger("rollproof.validator")

OPENINGS_PARALLEL = 4  # peers asked at once (node/p2p/fanout.py asks them)
OPENINGS_TIMEOUT = 8.0  # s per peer: dialling plus one reply (at most 8 MiB, the response limit)


@dataclass(frozen=True)
class Opened:
    """What a served opening must be: a rollout of `miner` in `task_id` under the committed `root`."""

    task_id: int
    miner: str
    root: bytes
    rollouts_per_problem: int

    def holds(self, index: int, rollout: Rollout, proof: list[bytes]) -> bool:
        p, g = divmod(index, self.rollouts_per_problem)
        return (
            (rollout.task_id, rollout.miner.lower(), rollout.p, rollout.g)
            == (self.task_id, self.miner.lower(), p, g)
        ) and verify_proof(self.root, leaf_hash(rollout), proof)


@dataclass
class Openings:
    """One entry per challenged index: the rollout, its proof and the peer that served it (None
    where nobody did)."""

    rollouts: list[Rollout | None]
    proofs: list[list[bytes] | None]
    served_by: list[str | None]
    failed: dict[str, str] = field(default_factory=dict)  # peer -> why it served nothing

    @classmethod
    def empty(cls, n: int) -> Openings:
        return cls([None] * n, [None] * n, [None] * n)

    def missing(self) -> list[int]:
        return [slot for slot, r in enumerate(self.rollouts) if r is None]


def openings_from_peers(
    p2p: Any, peers: list[str], miner_peer: str | None, want: Opened, indices: list[int]
) -> tuple[list[Rollout | None], list[list[bytes] | None]]:
    """The challenged openings (rollouts, proofs), each from the first peer that serves it under
    the committed root; see collect_openings."""
    found = collect_openings(p2p, peers, miner_peer, want, indices)
    return found.rollouts, found.proofs


def collect_openings(
    p2p: Any,
    peers: list[str],
    miner_peer: str | None,
    want: Opened,
    indices: list[int],
    parallel: int = OPENINGS_PARALLEL,
    timeout: float = OPENINGS_TIMEOUT,
) -> Openings:
    """Ask `peers` (in order, `parallel` at a time, `timeout` s each) for the openings still
    missing when each request starts; stop once every index has a valid one."""
    from node.p2p.fanout import ask_peers  # libp2p loads with the network, not with the role

    found = Openings.empty(len(indices))
    own: dict[int, tuple[Rollout, list[bytes]]] = {}

    def start(peer: str) -> Callable[[], tuple[list[int], list[Any]]]:
        need = found.missing()
        pairs = [divmod(indices[slot], want.rollouts_per_problem) for slot in need]
        return lambda: (need, p2p.fetch_openings(peer, want.task_id, want.miner, pairs, timeout))

    def take(peer: str, answer: tuple[list[int], list[Any]]) -> None:
        need, served = answer
        take_served(found, own, peer, miner_peer, want, indices, need, served)

    def failed(peer: str, exc: Exception) -> None:
        found.failed[peer] = str(exc)
        log.info("task %d: %s did not serve openings of %s: %s", want.task_id, peer, want.miner, exc)

    ask_peers(peers, start, take, lambda: not found.missing(), failed, parallel, "openings")
    for slot, (rollout, proof) in own.items():
        if found.rollouts[slot] is None:
            found.rollouts[slot], found.proofs[slot], found.served_by[slot] = rollout, proof, miner_peer
    return found


def take_served(
    found: Openings,
    own: dict[int, tuple[Rollout, list[bytes]]],
    peer: str,
    miner_peer: str | None,
    want: Opened,
    indices: list[int],
    need: list[int],
    served: list[Any],
) -> None:
    """Keep each served opening that is the challenged rollout under the root, where none is kept
    yet; remember the miner's own other answers; log a third peer's forgeries."""
    ignored = 0
    for slot, (msg, proof) in zip(need, served, strict=False):
        rollout = from_wire(msg)
        if want.holds(indices[slot], rollout, proof):
            if found.rollouts[slot] is None:
                found.rollouts[slot], found.proofs[slot], found.served_by[slot] = rollout, proof, peer
        elif peer == miner_peer:
            own[slot] = (rollout, proof)
        else:
            ignored += 1
    if ignored:
        log.warning(
            "task %d: peer %s served %d opening(s) of %s not under the committed root; ignored",
            want.task_id,
            peer,
            ignored,
            want.miner,
        )
