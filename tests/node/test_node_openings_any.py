"""Openings served by any peer (issue 15): a validator whose miner is gone asks every connected peer;
a peer holding the gossip (a real store, served by `received_openings`) answers with proofs under
the committed root, and a peer serving forged openings is ignored. Real libp2p hosts on 127.0.0.1,
a real SQLite store and real Merkle trees."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from libp2p.peer.id import ID

from node.p2p import P2PNode
from node.p2p.identity import key_pair_from_secret
from node.roles.openings import collect_openings
from node.roles.validator import Opened, openings_from_peers
from node.runtime.network import encode_rollout, from_wire, received_openings, to_wire
from node.store import open_store
from tests.p2p.helpers import account_key, address, identity_secret, local_config, make_rollout, staked_set
from verifier.commitments import MerkleTree, leaf_hash, verify_proof

pytestmark = pytest.mark.timeout(300)
TASK, P, G, MINER = 7, 4, 2, 3


def committed_rollouts() -> list:
    return [
        from_wire(make_rollout(TASK, MINER, p, g, n_tokens=16, prompt=8)) for p in range(P) for g in range(G)
    ]


def forged_openings(rollouts: list):
    """Other tokens for every rollout, with proofs under the forger's own (different) root."""
    forged = [dataclasses.replace(r, tokens=tuple(t + 1 for t in r.tokens)) for r in rollouts]
    tree = MerkleTree.of([leaf_hash(r) for r in forged])

    def serve(task_id: int, miner: str, pairs: list[tuple[int, int]]) -> list:
        return [(to_wire(forged[p * G + g]), tree.proof(leaf_hash(forged[p * G + g]))) for p, g in pairs]

    return serve


@pytest.fixture
def network(tmp_path: Path):
    rollouts = committed_rollouts()
    store = open_store(f"sqlite:///{tmp_path / 'holder.db'}")
    store.upsert_task(TASK, params={"num_problems": P, "rollouts_per_problem": G})
    for r in rollouts:  # the holder received every rollout by gossip
        store.add_received_rollout(TASK, r.miner, r.p, r.g, encode_rollout(to_wire(r)), leaf=leaf_hash(r))
    holder_ctx = SimpleNamespace(store=store)
    staked = staked_set(range(8))
    holder = P2PNode(local_config(), account_key(1), staked, identity_secret(1)).start()
    holder.serve_openings(lambda t, m, pairs: received_openings(holder_ctx, t, m, pairs))
    liar = P2PNode(local_config(), account_key(2), staked, identity_secret(2)).start()
    liar.serve_openings(forged_openings(rollouts))
    validator = P2PNode(
        local_config(bootstrap=[liar.listen_addrs[0], holder.listen_addrs[0]]),
        account_key(0),
        staked,
        identity_secret(0),
    ).start()
    try:
        yield SimpleNamespace(rollouts=rollouts, holder=holder, liar=liar, validator=validator)
    finally:
        for node in (validator, liar, holder):
            node.stop()
        store.close()


def test_openings_come_from_a_peer_holding_the_gossip_and_a_liar_is_ignored(network) -> None:
    rollouts = network.rollouts
    root = MerkleTree.of([leaf_hash(r) for r in rollouts]).root
    miner_peer = ID.from_pubkey(key_pair_from_secret(identity_secret(MINER)).public_key).to_base58()
    want = Opened(TASK, address(MINER), root, G)
    indices = [0, 3, 6]
    # The miner is down (nothing listens for its peer id); the liar is asked before the holder.
    peers = [miner_peer, network.liar.peer_id.to_base58(), network.holder.peer_id.to_base58()]
    got, proofs = openings_from_peers(network.validator, peers, miner_peer, want, indices)
    assert got == [rollouts[i] for i in indices]
    assert all(verify_proof(root, leaf_hash(r), proof) for r, proof in zip(got, proofs, strict=True))

    # Without the holder nothing is taken from the liar: the audit sees them missing, not forged.
    got, proofs = openings_from_peers(network.validator, peers[:2], miner_peer, want, indices)
    assert got == [None] * len(indices) and proofs == [None] * len(indices)


def test_the_miners_own_wrong_openings_are_kept_for_its_audit_to_fail(network) -> None:
    """Served by the miner itself, forged openings are the miner's fault: they reach the verifier
    (which fails them on inclusion) unless another peer holds the right ones."""
    rollouts = network.rollouts
    root = MerkleTree.of([leaf_hash(r) for r in rollouts]).root
    as_miner = network.liar.peer_id.to_base58()
    want = Opened(TASK, address(MINER), root, G)
    got, proofs = openings_from_peers(network.validator, [as_miner], as_miner, want, [1, 5])
    assert all(r is not None and r != rollouts[i] for r, i in zip(got, [1, 5], strict=True))
    assert not any(verify_proof(root, leaf_hash(r), p) for r, p in zip(got, proofs, strict=True))
    holder = network.holder.peer_id.to_base58()
    got, _ = openings_from_peers(network.validator, [as_miner, holder], as_miner, want, [1, 5])
    assert got == [rollouts[1], rollouts[5]]


def test_a_holder_missing_some_rollouts_serves_none(network, tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'partial.db'}")
    try:
        store.upsert_task(TASK, params={"num_problems": P, "rollouts_per_problem": G})
        r = network.rollouts[0]
        store.add_received_rollout(TASK, r.miner, r.p, r.g, encode_rollout(to_wire(r)), leaf=leaf_hash(r))
        with pytest.raises(ValueError, match="holds 1 of the 8 rollouts"):
            received_openings(SimpleNamespace(store=store), TASK, r.miner, [(0, 0)])
        with pytest.raises(ValueError, match="task 99 is unknown"):
            received_openings(SimpleNamespace(store=store), 99, r.miner, [(0, 0)])
    finally:
        store.close()


def _hanging_peer(network, key: int, serve: str, answer):
    """A peer that accepts requests on `serve` (P2PNode.serve_openings or serve_adapters) and never answers
    until the test ends; yields its node, peer id and the event set when it was asked."""
    asked, release = threading.Event(), threading.Event()

    def hang(*_request):
        asked.set()
        release.wait(120)
        return answer

    node = P2PNode(local_config(), account_key(key), staked_set(range(8)), identity_secret(key))
    getattr(node, serve)(hang)
    node.start()
    try:
        network.validator.add_peers([node.listen_addrs[0]])
        yield SimpleNamespace(node=node, peer=node.peer_id.to_base58(), asked=asked)
    finally:
        release.set()
        node.stop()


@pytest.fixture
def silent_peer(network):
    """A peer that accepts the openings request and never answers (until the test ends)."""
    yield from _hanging_peer(network, 4, "serve_openings", [])


def test_a_silent_peer_does_not_hold_up_the_answer_of_a_good_one(network, silent_peer) -> None:
    """Asked at once, the holder's answer is used while the silent peer (asked first) still has not
    answered: its request had neither failed nor timed out (60 s) when the openings came back."""
    rollouts = network.rollouts
    root = MerkleTree.of([leaf_hash(r) for r in rollouts]).root
    want = Opened(TASK, address(MINER), root, G)
    holder = network.holder.peer_id.to_base58()
    indices = [1, 2, 7]
    found = collect_openings(network.validator, [silent_peer.peer, holder], None, want, indices, timeout=60)
    assert found.rollouts == [rollouts[i] for i in indices]
    assert found.served_by == [holder] * len(indices)
    assert silent_peer.peer not in found.failed  # still in flight: nobody waited for it
    assert silent_peer.asked.wait(30)  # it was asked (concurrently), it just never answered


def test_a_silent_peer_is_given_up_after_the_per_peer_timeout(network, silent_peer) -> None:
    """One at a time, the silent peer asked first costs its short timeout and no more: then the
    holder is asked and serves every opening."""
    rollouts = network.rollouts
    root = MerkleTree.of([leaf_hash(r) for r in rollouts]).root
    want = Opened(TASK, address(MINER), root, G)
    holder = network.holder.peer_id.to_base58()
    peers = [silent_peer.peer, holder]
    found = collect_openings(network.validator, peers, None, want, [0, 5], parallel=1, timeout=2)
    assert found.rollouts == [rollouts[0], rollouts[5]]
    assert found.served_by == [holder, holder]
    assert "did not answer" in found.failed[silent_peer.peer]


def test_a_miner_serves_another_miners_openings_from_the_gossip_it_kept(network, tmp_path: Path) -> None:
    """Miners keep the rollouts of others they receive by gossip; asked for them, they answer like
    a validator holding the gossip, and the answers hold under the other miner's committed root."""
    from node.roles.miner import Miner

    rollouts = network.rollouts
    store = open_store(f"sqlite:///{tmp_path / 'other-miner.db'}")
    store.upsert_task(TASK, params={"num_problems": P, "rollouts_per_problem": G})
    for r in rollouts:
        store.add_received_rollout(TASK, r.miner, r.p, r.g, encode_rollout(to_wire(r)), leaf=leaf_hash(r))
    other = Miner.__new__(Miner)  # only its store and address: no model, no chain
    other.ctx = SimpleNamespace(store=store, address=address(5))
    node = P2PNode(local_config(), account_key(5), staked_set(range(8)), identity_secret(5))
    node.serve_openings(other.serve_openings)
    node.start()
    try:
        root = MerkleTree.of([leaf_hash(r) for r in rollouts]).root
        want = Opened(TASK, address(MINER), root, G)
        miner_peer = ID.from_pubkey(key_pair_from_secret(identity_secret(MINER)).public_key).to_base58()
        found = collect_openings(
            network.validator, [node.listen_addrs[0], miner_peer], miner_peer, want, [3, 4]
        )
        assert found.rollouts == [rollouts[3], rollouts[4]]
        assert found.served_by == [node.listen_addrs[0]] * 2
    finally:
        node.stop()
        store.close()


@pytest.fixture
def adapter_blob(tmp_path: Path):
    """A real LoRA adapter of the tiny model as a blob file, and its canonical hash (what `join`
    puts on chain)."""
    from verifier.models import adapter_hash, adapter_to_bytes, new_adapter, tiny_model

    peft_model = new_adapter(tiny_model(0)[0], rank=4, seed=1)
    path = tmp_path / "served-adapter.bin"
    path.write_bytes(adapter_to_bytes(peft_model))
    return SimpleNamespace(path=path, hash=adapter_hash(peft_model))


@pytest.fixture
def silent_adapter_peer(network):
    """A peer that accepts adapter requests and never answers (until the test ends)."""
    yield from _hanging_peer(network, 6, "serve_adapters", None)


def test_an_adapter_comes_from_a_good_peer_while_a_silent_one_asked_first_hangs(
    network, silent_adapter_peer, adapter_blob, tmp_path: Path
) -> None:
    """Asked at once (node/p2p/fanout.py, the pattern of the openings), the holder's copy is used
    and credited to it while the silent peer's request has neither failed nor timed out (60 s);
    the liar's bytes, if its download ended first, failed the canonical hash and were not used."""
    from node.model import fetch_adapter_blob
    from verifier.models import adapter_hash

    blob = adapter_blob
    network.holder.serve_adapters(lambda h: blob.path if h == blob.hash else None)
    wrong = tmp_path / "wrong-adapter.bin"
    right = blob.path.read_bytes()
    wrong.write_bytes(right[:-64] + bytes(b ^ 0x01 for b in right[-64:]))  # other tensor bytes
    assert adapter_hash_of(wrong) not in (None, blob.hash)
    network.liar.serve_adapters(lambda h: wrong if h == blob.hash else None)
    holder, liar = network.holder.peer_id.to_base58(), network.liar.peer_id.to_base58()
    peers = [silent_adapter_peer.peer, liar, holder]

    fetched = network.validator.collect_adapter(
        peers, blob.hash, tmp_path / "got.bin", verify=lambda p, h: adapter_hash_of(p) == h, timeout=60
    )
    assert fetched.served_by == holder
    assert fetched.path.read_bytes() == blob.path.read_bytes()
    assert silent_adapter_peer.peer not in fetched.failed  # still in flight: nobody waited for it
    assert silent_adapter_peer.asked.wait(30)  # it was asked (concurrently), it just never answered
    assert not list(tmp_path.glob("got.bin*.part"))

    # The validator's own path (fetch_adapter_blob: canonical hash, unpacked directory).
    directory = fetch_adapter_blob(network.validator, peers, blob.hash, tmp_path / "adapters")
    assert adapter_hash(directory) == blob.hash


def adapter_hash_of(path: Path) -> bytes | None:
    from verifier.models import ModelError, adapter_from_blob

    try:
        return adapter_from_blob(path.read_bytes())[2]
    except ModelError:
        return None


def test_a_silent_adapter_peer_is_given_up_after_the_per_request_timeout(
    network, silent_adapter_peer, adapter_blob, tmp_path: Path
) -> None:
    """One at a time, the silent peer asked first costs its short timeout and no more: then the
    holder is asked and its copy is used."""
    blob = adapter_blob
    network.holder.serve_adapters(lambda h: blob.path if h == blob.hash else None)
    holder = network.holder.peer_id.to_base58()
    fetched = network.validator.collect_adapter(
        [silent_adapter_peer.peer, holder],
        blob.hash,
        tmp_path / "one-by-one.bin",
        verify=lambda p, h: adapter_hash_of(p) == h,
        parallel=1,
        timeout=2,
    )
    assert fetched.served_by == holder
    assert fetched.path.read_bytes() == blob.path.read_bytes()
    assert "did not answer" in fetched.failed[silent_adapter_peer.peer]
