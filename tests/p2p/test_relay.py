"""Circuit relay v2 (issue 15, item 1): a node reachable only through a relay. Three real hosts on
127.0.0.1: R relays (`relay_hop`), D reserves a slot on R (`relay_via`), and S, which knows D only
by its circuit address through R, fetches D's openings over a connection that is RELAYED."""

from __future__ import annotations

import pytest

from node.p2p import P2PNode
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


def test_a_request_reaches_a_node_through_a_relay() -> None:
    staked = staked_set(range(3))
    relay = P2PNode(local_config(relay_hop=True), account_key(0), staked, identity_secret(0)).start()
    hidden = source = None
    try:
        hidden = P2PNode(
            local_config(relay_via=[relay.listen_addrs[0]]), account_key(1), staked, identity_secret(1)
        )
        rollout = make_rollout(5, 1, 0, 1, n_tokens=16, prompt=8)
        hidden.serve_openings(lambda task, miner, pairs: [(rollout, [b"\x01" * 32]) for _ in pairs])
        hidden.start()
        wait_for(lambda: relay.peer_id in hidden.relay.reserved, "the hidden node never reserved a slot")

        source = P2PNode(local_config(relay_client=True), account_key(2), staked, identity_secret(2)).start()
        circuit = f"{relay.listen_addrs[0]}/p2p-circuit/p2p/{hidden.peer_id.to_base58()}"
        ((got, proof),) = source.fetch_openings(circuit, 5, address(1), [(0, 1)])
        assert (got.miner, got.p, got.g, got.tokens) == (address(1), 0, 1, rollout.tokens)
        assert got.logprobs == pytest.approx(rollout.logprobs, rel=1e-6)  # float32 on the wire
        assert proof == [b"\x01" * 32]

        conns = source.host.get_network().connections.get(hidden.peer_id)
        conns = conns if isinstance(conns, list) else [conns]
        kinds = {str(c.get_connection_type()) for c in conns if c is not None}
        assert "ConnectionType.RELAYED" in kinds, kinds
    finally:
        for node in (source, hidden, relay):
            if node is not None:
                node.stop()


def test_without_the_relay_option_a_circuit_address_is_a_clear_error() -> None:
    from node.p2p import RequestError

    staked = staked_set(range(3))
    plain = P2PNode(local_config(), account_key(2), staked, identity_secret(2)).start()
    try:
        circuit = (
            "/ip4/127.0.0.1/tcp/9/p2p/16Uiu2HAm6pKA8aY9DzsFGbenZauGbXZcRCJyJBzLpVNvTb2LfoyN"
            "/p2p-circuit/p2p/16Uiu2HAmB8fGkT2PZYyHzw58nEwfK9PV8nVNotZAb5ULexuQM5iV"
        )
        with pytest.raises(RequestError):
            plain.fetch_openings(circuit, 5, address(1), [(0, 1)])
    finally:
        plain.stop()
