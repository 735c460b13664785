"""Helpers for the end-to-end tests: real Anvil, real beacon, real libp2p, each node its own process.

Every test here runs a devnet with the tiny model (`DevnetOptions.tiny`): the protocol is the same
as `make devnet`, only the model, the windows and the token counts are small. Assertions read the
chain and the nodes' stores, never the nodes' logs alone.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from chain.artifacts import load_abi  # noqa: E402
from node.devnet import Devnet, DevnetError, DevnetOptions  # noqa: E402


def lone_miner_options(out_dir: Any, **overrides: Any) -> DevnetOptions:
    """The tiny devnet with one honest miner and no validator, evaluator or cheater."""
    return DevnetOptions.tiny(
        out_dir=out_dir,
        honest_miners=1,
        cheaters=0,
        validators=0,
        lazy_validators=0,
        failing_validators=0,
        evaluators=0,
        **overrides,
    )


def sent_actions(net: Devnet, address: str) -> Counter[tuple[str, int | None]]:
    """(function, taskId) of every transaction `address` sent to the protocol contracts, by count.

    Read from the blocks themselves, so a transaction sent twice shows up even if the node's store
    forgot it.
    """
    assert net.chain is not None and net.deployment is not None
    w3 = net.chain.w3
    contracts = {}
    for name in ("Settlement", "TaskBoard", "StakeManager", "DrandBeacon", "RollToken"):
        addr = net.deployment.address(name)
        contracts[addr.lower()] = w3.eth.contract(address=addr, abi=load_abi(name))
    out: Counter[tuple[str, int | None]] = Counter()
    for number in range(net.deployment.deploy_block, w3.eth.block_number + 1):
        block = w3.eth.get_block(number, full_transactions=True)
        for tx in block["transactions"]:
            if tx["from"].lower() != address.lower() or tx["to"] is None:
                continue
            contract = contracts.get(tx["to"].lower())
            if contract is None:
                continue
            fn, args = contract.decode_function_input(tx["input"])
            receipt = w3.eth.get_transaction_receipt(tx["hash"])
            if receipt["status"] != 1:
                continue
            task = args.get("taskId")
            out[(fn.fn_name, None if task is None else int(task))] += 1
    return out


def drive(
    net: Devnet, until: Callable[[], bool], timeout: float, on_tick: Callable[[], None] | None = None
) -> None:
    """Poll chain events until `until()`; fail with the first crashed node's log tail."""
    deadline = time.monotonic() + timeout
    while not until():
        net.poll_events()
        if on_tick is not None:
            on_tick()
        bad = net.crashed()
        if bad:
            raise DevnetError(f"{bad[0].name} exited with code {bad[0].returncode}:\n{bad[0].log_tail(40)}")
        if time.monotonic() > deadline:
            raise DevnetError(f"timed out after {timeout:.0f} s; finalized tasks: {net.finalized_tasks()}")
        time.sleep(0.3)


def miner_outcome(net: Devnet, task_id: int, name: str) -> Any:
    assert net.chain is not None
    return net.chain.settlement.miner_state(task_id, net.nodes[name].address)
