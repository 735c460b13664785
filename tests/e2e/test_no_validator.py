"""No validator at all (PROTOCOL.md §2.7): the task never stalls. After the verify deadline anyone may
record the challenge beacon and finalize; every committed miner is NO_QUORUM: its lock is released
(never slashed) and, since nobody verified its work, it is paid nothing (RedTeam H1/H16: junk must not
be paid when no committee attends). The proposer gets back only the unfilled slots' caps: the
miner's cap and the unearned validator pool are burned, so neither a proposer nor anyone the treasury
pays gains from a missing committee."""

from __future__ import annotations

from e2e_helpers import drive, lone_miner_options, miner_outcome

from chain.clients import Outcome
from node.devnet import Devnet
from node.store import MinerState, ProposerState, Role


def test_task_without_validators_finalizes_and_refunds_the_proposer(tmp_path):
    # About a missing committee, not forced errors: never forced in practice.
    options = lone_miner_options(tmp_path / "net", tasks=1, forced_error_odds=2**31)
    with Devnet(options) as net:
        net.start()
        net.start_nodes()
        net.start_proposer()
        drive(net, lambda: 1 in net.finalized_tasks(), 240)
        proposer = net.nodes["proposer"]
        drive(net, lambda: not proposer.running, 60)
        chain = net.chain
        assert chain is not None
        ms = miner_outcome(net, 1, "miner1")
        assert ms.committed
        ts = chain.settlement.task_settlement(1)
        assert ms.outcome == Outcome.NO_QUORUM
        assert ms.paid == 0 and ms.slashed == 0
        assert chain.stakes.locked_stake(net.nodes["miner1"].address, 0) == 0
        assert ts.finalized and ts.revealed == 0
        assert ts.refund == ts.miner_pool - ts.cap  # only the unfilled slots
        # The whole cap and the unearned validator pool were burned: the treasury (seeded by the devnet) that
        # pays jackpots did not grow, and the proposer got nothing back for the missing committee.
        assert chain.settlement.treasury() == options.treasury_seed
        assert chain.settlement.burned() == ts.validator_pool + ts.cap
        # The refund was claimed: the proposer holds what it was minted, less the escrow, plus the refund.
        assert (
            chain.token.balance_of(proposer.address)
            == net.minted[proposer.address] - options.reward + ts.refund
        )
        with proposer.store() as store:
            assert store.task_state(1, Role.PROPOSER) == ProposerState.CLAIMED
        drive(net, lambda: not net.nodes["miner1"].running, 60)
        with net.nodes["miner1"].store() as store:
            assert store.task_state(1, Role.MINER) == MinerState.CLAIMED
        assert net.reconcile() == []
