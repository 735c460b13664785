"""DrandBeacon on a real Anvil (Prague, EIP-2537) with beacons fetched from the devnet server.

Uses the shared session `anvil` fixture of tests/conftest.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from beacon_helpers import make_devnet
from web3 import Web3
from web3.exceptions import ContractLogicError

from chain.anvil import Anvil
from chain.artifacts import ArtifactError, load_artifact, read_forge_artifact
from node.devnet.beacon import BeaconServer
from verifier.beacon import QUICKNET, DrandClient, onchain_args, pubkey_eip2537


def _artifact() -> Any:
    # The fresh forge build when there is one (make test builds before pytest), else the shipped copy.
    try:
        return read_forge_artifact("DrandBeacon")
    except ArtifactError:
        return load_artifact("DrandBeacon")


@pytest.fixture(scope="module")
def w3(anvil: Anvil) -> Web3:
    w3 = Web3(Web3.HTTPProvider(anvil.rpc_url))
    # The last funded account: the shared session Anvil's other users send from the first ones.
    w3.eth.default_account = w3.eth.accounts[-1]
    return w3


def _deploy(w3: Web3, public_key96: bytes, genesis: int, period: int) -> Any:
    art = _artifact()
    factory = w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
    receipt = w3.eth.wait_for_transaction_receipt(
        factory.constructor(pubkey_eip2537(public_key96), genesis, period).transact()
    )
    return w3.eth.contract(address=receipt.contractAddress, abi=art.abi)


def test_record_devnet_beacons_fetched_over_http(w3):
    with BeaconServer(make_devnet()) as server:
        info = server.beacon.info
        contract = _deploy(w3, info.public_key, info.genesis_time, info.period)
        assert contract.functions.genesis().call() == info.genesis_time
        for t in (info.genesis_time - 1, info.genesis_time, info.genesis_time + 7, info.genesis_time + 1000):
            assert contract.functions.roundAt(t).call() == info.round_at(t)
        with DrandClient([server.url], chain_hash=info.hash) as client:
            gas = []
            for r in (1, 2, 17, 30):
                beacon = client.get(r)
                args = beacon.onchain_args()
                assert contract.functions.verify(*args).call()
                receipt = w3.eth.wait_for_transaction_receipt(
                    contract.functions.recordBeacon(*args).transact()
                )
                assert receipt.status == 1
                gas.append(receipt.gasUsed)
                assert contract.functions.randomness(r).call() == beacon.randomness
                (event,) = contract.events.BeaconRecorded().process_receipt(receipt)
                assert event.args.round == r and event.args.randomness == beacon.randomness
            print(f"recordBeacon gas on Anvil (tx gasUsed): {gas}")
            assert contract.functions.randomness(3).call() == bytes(32)


def test_forged_devnet_beacon_is_rejected_on_chain(w3):
    honest = make_devnet()
    forger = make_devnet(seed=b"the operator's key leaked? no: another key")
    contract = _deploy(w3, honest.info.public_key, honest.info.genesis_time, honest.info.period)
    forged = forger.sign(5)
    args = forged.onchain_args()
    assert not contract.functions.verify(*args).call()
    with pytest.raises(ContractLogicError):
        contract.functions.recordBeacon(*args).transact()
    assert contract.functions.randomness(5).call() == bytes(32)
    # The honest beacon of round 4 presented as round 5: wrong round.
    _, sig, point = honest.sign(4).onchain_args()
    assert not contract.functions.verify(5, sig, point).call()
    assert contract.functions.verify(4, sig, point).call()


def test_real_quicknet_beacon_verifies_on_anvil(w3, vectors):
    contract = _deploy(w3, QUICKNET.public_key, QUICKNET.genesis_time, QUICKNET.period)
    two, three = vectors["chains"]["quicknet"]["beacons"]
    sig2, point2 = onchain_args(bytes.fromhex(two["signature"]))
    sig3, point3 = onchain_args(bytes.fromhex(three["signature"]))
    assert contract.functions.verify(2, sig2, point2).call()
    assert not contract.functions.verify(3, sig2, point2).call()
    assert not contract.functions.verify(3, sig2, point3).call()  # compressed bytes of another point
    assert contract.functions.recordBeacon(3, sig3, point3).call() == bytes.fromhex(three["randomness"])
