"""Beacon figures: BLS verification time in Python, loopback client latency, on-chain gas on Anvil.

Run: .venv/bin/python bench/beacon.py [--rounds N] [--no-chain]
Prints figures only; nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import drand_verify

from node.devnet.beacon import DEVNET_SEED, BeaconServer, DevnetBeacon
from verifier.beacon import QUICKNET, DrandClient, pubkey_eip2537, verify_beacon
from verifier.bls import hash_to_g1

VECTORS = Path(__file__).resolve().parent.parent / "contracts" / "test" / "fixtures" / "drand_quicknet.json"


def _timed(fn: Callable[[], object], n: int) -> tuple[float, float]:
    """(median, p90) milliseconds of n calls."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return statistics.median(times), times[int(0.9 * (len(times) - 1))]


def bench_python(n: int) -> None:
    beacon = json.loads(VECTORS.read_text())["chains"]["quicknet"]["beacons"][0]
    sig, rnd = bytes.fromhex(beacon["signature"]), beacon["round"]
    devnet = DevnetBeacon.from_seed(DEVNET_SEED, genesis_time=0)
    rows = [
        (
            "verify_beacon (arkworks: decompress+subgroup+H2C+pairing)",
            lambda: verify_beacon(QUICKNET, rnd, sig),
        ),
        (
            "drand-verify (Rust crate, same check)",
            lambda: drand_verify.verify_quicknet(rnd, beacon["signature"]),
        ),
        ("hash_to_g1 alone (RFC 9380)", lambda: hash_to_g1(b"\x00" * 32)),
        ("devnet sign (H2C + scalar mult)", lambda: devnet._cache.clear() or devnet.sign(12345)),
    ]
    print(f"Python BLS, {n} runs each (ms):")
    for name, fn in rows:
        med, p90 = _timed(fn, n)
        print(f"  {name:<62} median {med:7.3f}  p90 {p90:7.3f}")


def bench_http(n: int) -> None:
    beacon = DevnetBeacon.from_seed(DEVNET_SEED, genesis_time=int(time.time()) - n - 5, period=1)
    with BeaconServer(beacon) as server:
        for r in range(1, n + 1):
            beacon.sign(r)  # pre-sign so the figure is the client's cost, not the server's
        with DrandClient([server.url], info=beacon.info) as client:
            client.get(1)  # connection warm-up
            times = []
            for r in range(2, n + 1):
                t0 = time.perf_counter()
                client.get(r)
                times.append((time.perf_counter() - t0) * 1e3)
    print(f"DrandClient.get over loopback HTTP incl. BLS verify, {len(times)} rounds (ms):")
    print(f"  median {statistics.median(times):7.3f}  max {max(times):7.3f}")


def bench_chain() -> None:
    from web3 import Web3

    from chain.anvil import Anvil
    from chain.artifacts import ArtifactError, load_artifact, read_forge_artifact

    try:
        art = read_forge_artifact("DrandBeacon")
    except ArtifactError:
        art = load_artifact("DrandBeacon")
    devnet = DevnetBeacon.from_seed(DEVNET_SEED, genesis_time=1_700_000_000, period=3)
    with Anvil() as anvil:
        w3 = Web3(Web3.HTTPProvider(anvil.rpc_url))
        w3.eth.default_account = w3.eth.accounts[0]
        factory = w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
        info = devnet.info
        receipt = w3.eth.wait_for_transaction_receipt(
            factory.constructor(pubkey_eip2537(info.public_key), info.genesis_time, info.period).transact()
        )
        contract = w3.eth.contract(address=receipt.contractAddress, abi=art.abi)
        print(f"On-chain (Anvil, Prague), DrandBeacon deploy gas: {receipt.gasUsed}")
        used = []
        for r in range(1, 6):
            args = devnet.sign(r).onchain_args()
            used.append(
                w3.eth.wait_for_transaction_receipt(contract.functions.recordBeacon(*args).transact()).gasUsed
            )
        again = w3.eth.wait_for_transaction_receipt(contract.functions.recordBeacon(*args).transact()).gasUsed
        view = contract.functions.verify(*devnet.sign(9).onchain_args()).estimate_gas()
        print(f"  recordBeacon tx gas (first record, 5 rounds): {used}")
        print(f"  recordBeacon tx gas (already recorded):       {again}")
        print(f"  verify() as a call, estimated gas:            {view}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--no-chain", action="store_true", help="skip the Anvil figures")
    args = parser.parse_args()
    bench_python(args.runs)
    bench_http(args.rounds)
    if not args.no_chain:
        bench_chain()


if __name__ == "__main__":
    main()
