"""The devnet's money check reads one state of the chain, even while a node sends transactions."""

from __future__ import annotations

from eth_account import Account

from chain.anvil import DEFAULT_PRIVATE_KEYS
from chain.clients import Role
from node.devnet.options import RPT, DevnetOptions
from node.devnet.processes import Devnet


def _account_of(address: str):
    return next(a for a in map(Account.from_key, DEFAULT_PRIVATE_KEYS) if a.address == address)


def test_reconcile_is_not_fooled_by_a_transaction_landing_midway_and_still_catches_a_loss(tmp_path):
    options = DevnetOptions.tiny(
        out_dir=tmp_path / "net",
        tasks=1,
        honest_miners=2,
        cheaters=0,
        validators=1,
        lazy_validators=0,
        failing_validators=0,
        evaluators=0,
    )
    with Devnet(options) as net:
        net.start()  # Anvil, contracts, funded accounts; no node process runs
        chain = net.chain
        assert chain is not None
        assert net.reconcile() == []

        # A miner stakes just after its wallet was read and before StakeManager's balance is: the
        # tokens would be counted twice, once in the wallet and once in the contract.
        miner = net.nodes["miner1"]
        as_miner = chain.as_account(_account_of(miner.address))
        read = chain.token.balance_of
        landed = []

        def balance_of(who: str) -> int:
            value = read(who)
            if who == miner.address and not landed:
                landed.append(as_miner.stakes.stake(Role.MINER, 10 * RPT))
            return value

        chain.token.balance_of = balance_of  # type: ignore[method-assign]
        assert net.reconcile() == []
        assert landed, "the stake was sent during the reading"
        assert chain.stakes.active_stake(miner.address, Role.MINER) == 10 * RPT

        # Tokens that really leave the books (a wallet pays an address the devnet does not know) are
        # still reported, and the retries end.
        landed.append(None)
        as_miner.token.transfer("0x" + "ee" * 20, 3 * RPT)
        problems = net.reconcile()
        assert any(p.startswith("miner1: token balance") for p in problems), problems
        assert any(p.startswith("accounts ") and "total supply" in p for p in problems), problems
