"""A node behind a relay is found by peer exchange alone (issue 15): once the hidden node H holds a
reservation on the relay R, its signed address record carries `<R addr>/p2p/<R>/p2p-circuit` (and
not its own direct address), R passes that record on, and V, which knows only R, dials H through R
by peer id and fetches H's openings over a RELAYED connection. Real libp2p hosts on 127.0.0.1."""

from __future__ import annotations

import socket

import pytest
from libp2p.peer.id import ID

from node.p2p import P2PNode
from node.p2p.discovery import RecordError, circuit_address, open_address_record, seal_address_record
from node.p2p.identity import key_pair_from_secret
from tests.p2p.helpers import (
    account_key,
    address,
    identity_secret,
    local_config,
    make_rollout,
    staked_set,
    wait_for,
)

pytestmark = pytest.mark.timeout(300)


def connection_kinds(node: P2PNode, peer: ID) -> set[str]:
    conns = node.host.get_network().connections.get(peer)
    conns = conns if isinstance(conns, list) else [conns]
    return {str(c.get_connection_type()) for c in conns if c is not None}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the test dials it


@pytest.mark.parametrize("announced", [False, True], ids=["circuit-only", "dead-direct-then-circuit"])
def test_a_hidden_node_is_dialled_through_the_relay_named_in_its_record(announced: bool) -> None:
    """Without `announce` the record holds only the circuit address; with an announced address
    that does not answer (a port nobody listens on), V tries it, fails and goes through the relay."""
    staked = staked_set(range(3))
    announce = [f"/ip4/127.0.0.1/tcp/{closed_port()}"] if announced else []
    relay = P2PNode(local_config(relay_hop=True, px_interval=0.5), account_key(0), staked, identity_secret(0))
    relay.start()
    hidden = validator = None
    try:
        hidden = P2PNode(
            # max_peers=0: H dials nobody it learns of (on 127.0.0.1 it could reach V directly; a
            # node behind NAT may too, but this test is about V reaching H).
            local_config(relay_via=[relay.listen_addrs[0]], px_interval=0.5, max_peers=0, announce=announce),
            account_key(1),
            staked,
            identity_secret(1),
        )
        rollout = make_rollout(5, 1, 0, 1, n_tokens=16, prompt=8)
        hidden.serve_openings(lambda task, miner, pairs: [(rollout, [b"\x02" * 32]) for _ in pairs])
        hidden.start()
        relay_id = relay.peer_id.to_base58()
        circuit = circuit_address(relay.listen_addrs[0], relay_id)
        expected = [*announce, circuit]
        wait_for(lambda: hidden.advertised == expected, f"the hidden node never advertised {expected}")

        # V knows the relay only; H's direct address is in no configuration and no record.
        validator = P2PNode(
            local_config(bootstrap=[relay.listen_addrs[0]], relay_client=True, px_interval=0.5),
            account_key(2),
            staked,
            identity_secret(2),
        ).start()
        hidden_id = hidden.peer_id.to_base58()
        # With `announce`, H had a record before its reservation; the resealed one (higher seq)
        # replaces it wherever it went.
        wait_for(
            lambda: hidden_id in validator.records and validator.records[hidden_id].addrs == tuple(expected),
            "the validator never learned the hidden node's record with its circuit address",
        )
        record = validator.records[hidden_id]
        assert record.addrs == tuple(expected)
        assert open_address_record(record.envelope).addrs == tuple(expected)  # signed by H, verified
        direct = hidden.listen_addrs[0].split("/p2p/")[0]
        assert all(direct not in a for a in validator.known_addresses(hidden_id))
        assert validator.known_addresses(hidden_id) == [f"{a}/p2p/{hidden_id}" for a in expected]

        ((got, proof),) = validator.fetch_openings(hidden_id, 5, address(1), [(0, 1)])
        assert (got.miner, got.p, got.g, got.tokens) == (address(1), 0, 1, rollout.tokens)
        assert proof == [b"\x02" * 32]
        assert "ConnectionType.RELAYED" in connection_kinds(validator, hidden.peer_id)
    finally:
        for node in (validator, hidden, relay):
            if node is not None:
                node.stop()


def test_a_validator_not_connected_to_the_relay_dials_the_relay_then_the_circuit() -> None:
    """V holds H's signed record (as peer exchange with some other peer would hand it over) but is
    connected to nobody, the relay named in the record included: fetching H's openings by peer id
    dials R first, then H through R."""
    staked = staked_set(range(3))
    relay = P2PNode(local_config(relay_hop=True), account_key(0), staked, identity_secret(0)).start()
    hidden = validator = None
    try:
        hidden = P2PNode(
            local_config(relay_via=[relay.listen_addrs[0]], max_peers=0),
            account_key(1),
            staked,
            identity_secret(1),
        )
        rollout = make_rollout(6, 1, 1, 0, n_tokens=16, prompt=8)
        hidden.serve_openings(lambda task, miner, pairs: [(rollout, [b"\x03" * 32]) for _ in pairs])
        hidden.start()
        circuit = circuit_address(relay.listen_addrs[0], relay.peer_id.to_base58())
        wait_for(lambda: hidden.advertised == [circuit], "the hidden node never reserved on the relay")
        record = hidden._call_sync(lambda: hidden.own_record)
        assert record  # signed by H, naming R's circuit address

        # No bootstrap, no discovered dials (max_peers=0): only the request itself dials.
        validator = P2PNode(
            local_config(relay_client=True, max_peers=0), account_key(2), staked, identity_secret(2)
        ).start()
        assert validator._call_sync(lambda: validator.learn_record(record)) is True
        hidden_id = hidden.peer_id.to_base58()
        assert validator.known_addresses(hidden_id) == [f"{circuit}/p2p/{hidden_id}"]
        assert validator.connected_peers() == []

        ((got, proof),) = validator.fetch_openings(hidden_id, 6, address(1), [(1, 0)], timeout=30)
        assert (got.miner, got.p, got.g, got.tokens) == (address(1), 1, 0, rollout.tokens)
        assert proof == [b"\x03" * 32]
        assert "ConnectionType.RELAYED" in connection_kinds(validator, hidden.peer_id)
        # The relay was dialled directly on the way (the record's relay address).
        assert relay.peer_id.to_base58() in validator.connected_peers()
        assert "ConnectionType.DIRECT" in connection_kinds(validator, relay.peer_id)
    finally:
        for node in (validator, hidden, relay):
            if node is not None:
                node.stop()


def test_a_relay_slot_lost_while_connected_leaves_the_record() -> None:
    """H holds slots on R1 and R2. R1 stops relaying (its HOP handler removed) while the connection
    stays up: H's renewals fail, R1's circuit leaves H's record and V, which hears of H through R2
    only, holds the resealed record and reaches H through R2. When R2 stops too, H seals an empty
    record that withdraws the last circuit: V knows no address of H any more."""
    from libp2p.relay.circuit_v2.protocol import PROTOCOL_ID as HOP

    staked = staked_set(range(4))
    relays = [
        P2PNode(
            local_config(relay_hop=True, px_interval=0.5), account_key(i), staked, identity_secret(i)
        ).start()
        for i in (0, 3)
    ]
    hidden = validator = None
    try:
        hidden = P2PNode(
            local_config(relay_via=[r.listen_addrs[0] for r in relays], px_interval=0.5, max_peers=0),
            account_key(1),
            staked,
            identity_secret(1),
        )
        rollout = make_rollout(8, 1, 0, 0, n_tokens=16, prompt=8)
        hidden.serve_openings(lambda task, miner, pairs: [(rollout, [b"\x04" * 32]) for _ in pairs])
        hidden.start()
        hidden.relay.renew_seconds = 0.5  # renew at every check (2 s) instead of every 30 s
        c1, c2 = (circuit_address(r.listen_addrs[0], r.peer_id.to_base58()) for r in relays)
        wait_for(lambda: hidden.advertised == [c1, c2], "the hidden node never reserved on both relays")
        validator = P2PNode(
            local_config(
                bootstrap=[relays[1].listen_addrs[0]], relay_client=True, px_interval=0.5, max_peers=0
            ),
            account_key(2),
            staked,
            identity_secret(2),
        ).start()
        hidden_id = hidden.peer_id.to_base58()

        def held() -> tuple[str, ...] | None:
            record = validator.records.get(hidden_id)
            return None if record is None else record.addrs

        wait_for(lambda: held() == (c1, c2), "the validator never learned the record with both circuits")

        relays[0]._call_sync(lambda: relays[0].host.remove_stream_handler(HOP))
        wait_for(lambda: hidden.advertised == [c2], "the lost slot on R1 stayed in the record")
        assert relays[0].peer_id in hidden.host.get_connected_peers()  # lost while connected
        wait_for(lambda: held() == (c2,), "the validator kept the stale circuit through R1")
        assert validator.known_addresses(hidden_id) == [f"{c2}/p2p/{hidden_id}"]
        ((got, _),) = validator.fetch_openings(hidden_id, 8, address(1), [(0, 0)], timeout=30)
        assert got.tokens == rollout.tokens
        assert "ConnectionType.RELAYED" in connection_kinds(validator, hidden.peer_id)

        relays[1]._call_sync(lambda: relays[1].host.remove_stream_handler(HOP))
        wait_for(lambda: hidden.advertised == [], "the lost slot on R2 stayed in the record")
        assert open_address_record(hidden.own_record).addrs == ()  # signed, and it says: no address
        wait_for(lambda: held() == (), "the validator kept the stale circuit through R2")
        assert relays[1].peer_id in hidden.host.get_connected_peers()
    finally:
        for node in (validator, hidden, *relays):
            if node is not None:
                node.stop()


def test_circuit_addresses_in_records_are_checked() -> None:
    kp = key_pair_from_secret(identity_secret(1))
    me = ID.from_pubkey(kp.public_key).to_base58()
    relay = ID.from_pubkey(key_pair_from_secret(identity_secret(0)).public_key).to_base58()
    circuit = f"/ip4/10.0.0.1/tcp/4001/p2p/{relay}/p2p-circuit"
    # Our own trailing /p2p/<id> is dropped, the relay's kept.
    record = open_address_record(seal_address_record(kp, [f"{circuit}/p2p/{me}", "/ip4/10.0.0.2/tcp/1"]))
    assert record.addrs == (circuit, "/ip4/10.0.0.2/tcp/1")
    assert record.circuits() == [circuit]
    bad = [
        f"/ip4/0.0.0.0/tcp/4001/p2p/{relay}/p2p-circuit",  # a relay nobody can dial
        f"/ip4/10.0.0.1/tcp/4001/p2p/{me}/p2p-circuit",  # itself as its relay
        f"/ip4/10.0.0.1/tcp/4001/p2p/{relay}/p2p-circuit/ip4/10.0.0.3",  # junk after the circuit
    ]
    for addr in bad:
        with pytest.raises(RecordError):
            open_address_record(seal_address_record(kp, [addr]))


def test_a_node_without_the_relay_client_does_not_chase_circuit_only_records() -> None:
    staked = staked_set(range(3))
    plain = P2PNode(local_config(), account_key(2), staked, identity_secret(2)).start()
    try:
        kp = key_pair_from_secret(identity_secret(1))
        relay = ID.from_pubkey(key_pair_from_secret(identity_secret(0)).public_key).to_base58()
        data = seal_address_record(kp, [f"/ip4/127.0.0.1/tcp/9/p2p/{relay}/p2p-circuit"])
        hidden_id = ID.from_pubkey(kp.public_key).to_base58()
        assert plain._call_sync(lambda: plain.learn_record(data)) is True
        assert hidden_id in plain.records and hidden_id not in plain.targets
    finally:
        plain.stop()


def test_add_peer_without_announce_names_the_circuit_address_of_a_node_behind_a_relay(tmp_path) -> None:
    from chain.keys import identity_path_for
    from node.config import Config
    from node.ops.deployment import peer_addresses

    keystore = tmp_path / "op.json"
    identity_path_for(keystore).write_text(identity_secret(1).hex())
    me = ID.from_pubkey(key_pair_from_secret(identity_secret(1)).public_key).to_base58()
    relay = ID.from_pubkey(key_pair_from_secret(identity_secret(0)).public_key).to_base58()
    cfg = Config()
    cfg.chain.keystore = str(keystore)
    cfg.p2p.relay_via = [f"/ip4/10.0.0.1/tcp/4001/p2p/{relay}"]
    assert peer_addresses(cfg, []) == [f"/ip4/10.0.0.1/tcp/4001/p2p/{relay}/p2p-circuit/p2p/{me}"]
    cfg.p2p.announce = ["/ip4/10.0.0.9/tcp/4001"]  # announce wins: the node says it can be dialled
    assert peer_addresses(cfg, []) == [f"/ip4/10.0.0.9/tcp/4001/p2p/{me}"]
