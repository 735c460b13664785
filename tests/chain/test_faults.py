"""Bad input and faults: each a clear sentence, nothing sent twice, nothing lost."""

from __future__ import annotations

import threading

import pytest
from eth_utils import keccak

from chain.clients import Chain, Role
from chain.errors import ChainError, ChainRevert
from chain.testing import CuttableProxy
from chain.tx import RetryPolicy, RpcUnavailable, SenderConfig

RPT = 10**18


def test_insufficient_stake_reads_as_a_sentence(chain_for, task_params, clock, devnet_beacon):
    poor = chain_for(1)
    poor.stakes.stake(Role.MINER, 50 * RPT)
    params = task_params()
    task_id = chain_for(0).board.post_task(params)
    with pytest.raises(ChainRevert, match=r"^stake 50 RPT is below the miner minimum of 100 RPT\.$"):
        poor.settlement.join(task_id, b"\x01" * 32, b"\x02" * 32)
    with pytest.raises(ChainRevert, match=r"cannot unstake 80 RPT: the active miner stake is only 50 RPT"):
        poor.stakes.request_unstake(Role.MINER, 80 * RPT)
    miner = chain_for(3)
    miner.stakes.stake(Role.MINER, 100 * RPT)
    miner.settlement.join(task_id, b"\x03" * 32, b"\x04" * 32)
    miner.settlement.commit(task_id, keccak(b"root"), params.num_problems * params.rollouts_per_problem)
    validator = chain_for(2)
    validator.stakes.stake(Role.VALIDATOR, 99 * RPT + 5 * 10**17)
    task = chain_for(0).board.get_task(task_id)
    clock.warp_to(chain_for(0).board.round_time(task.challenge_round))
    chain_for(0).beacon.record_beacon(*devnet_beacon.sign(task.challenge_round).onchain_args())
    with pytest.raises(ChainRevert, match=r"^stake 99\.5 RPT is below the validator minimum of 100 RPT\.$"):
        validator.settlement.commit_verdict(task_id, [], b"\x02" * 32)
    # Below the client, the raw custom error NotStaked(who, role) already reads as a sentence.
    data = poor.settlement.contract.encode_abi("commitVerdict", [task_id, b"\x03" * 32])
    with pytest.raises(ChainRevert, match=f"{poor.address} is not staked as a validator"):
        poor.sender.send(poor.settlement.address, data)


def test_late_and_double_commit(chain_for, clock, task_params):
    miner = chain_for(1)
    miner.stakes.stake(Role.MINER, 100 * RPT)
    params = task_params()
    task_id = chain_for(0).board.post_task(params)
    miner.settlement.join(task_id, b"\x01" * 32, b"\x09" * 32)
    root, count = keccak(b"root"), params.num_problems * params.rollouts_per_problem
    with pytest.raises(ChainRevert, match="needs P x G = 4"):
        miner.settlement.commit(task_id, root, 3)
    nonce_before = miner.sender.pending_nonce()
    miner.settlement.commit(task_id, root, count)
    assert miner.settlement.commit(task_id, root, count) is None  # restart-safe: not sent again
    assert miner.sender.pending_nonce() == nonce_before + 1
    with pytest.raises(ChainError, match="already committed root"):
        miner.settlement.commit(task_id, keccak(b"other"), count)
    with pytest.raises(ChainRevert, match="already committed to task"):
        miner.settlement.send("commit", task_id, keccak(b"other"), count)

    # A miner that joined in time but commits after the deadline.
    on_time = chain_for(3)
    on_time.stakes.stake(Role.MINER, 100 * RPT)
    on_time.settlement.join(task_id, b"\x03" * 32, b"\x09" * 32)
    late = chain_for(2)
    late.stakes.stake(Role.MINER, 100 * RPT)
    clock.warp_to(params.join_deadline + 1)
    with pytest.raises(
        ChainRevert, match=r"^joining task \d+ failed: too late: the window closed at unix time"
    ):
        late.settlement.join(task_id, b"\x02" * 32, b"\x09" * 32)

    clock.warp_to(params.commit_deadline + 1)
    with pytest.raises(ChainRevert, match=r"^committing to task \d+ failed: too late: the window closed"):
        on_time.settlement.commit(task_id, root, count)
    assert not on_time.settlement.miner_state(task_id, on_time.address).committed


def _proxied(anvil, deployment, account, attempts=10) -> tuple[CuttableProxy, Chain]:
    proxy = CuttableProxy("127.0.0.1", anvil.port)
    config = SenderConfig(retry=RetryPolicy(attempts=attempts, first_delay=0.1, max_delay=0.5))
    return proxy, Chain.connect(proxy.url, deployment, account, config)


def test_lost_response_is_retried_and_sent_once(anvil, deployment, accounts):
    """The node accepts the transaction but the answer is lost: the retry must not send it again."""
    proxy, payer = _proxied(anvil, deployment, accounts[1])
    with proxy:
        receiver = accounts[8].address
        before = payer.token.balance_of(receiver)
        nonce = payer.sender.pending_nonce()
        payer.sender.journal = lambda signed: proxy.drop_responses(1)  # cut right before broadcast
        receipt = payer.token.transfer(receiver, 7 * RPT)
        assert proxy.stats.dropped_responses == 1
        assert receipt.nonce == nonce and receipt.status == 1
        assert payer.token.balance_of(receiver) == before + 7 * RPT  # exactly once
        assert payer.sender.pending_nonce() == nonce + 1


def test_rpc_down_during_send_then_back(anvil, deployment, accounts):
    proxy, payer = _proxied(anvil, deployment, accounts[2])
    with proxy:
        receiver = accounts[8].address
        before = payer.token.balance_of(receiver)
        nonce = payer.sender.pending_nonce()

        def cut(signed):
            proxy.down()
            threading.Timer(0.8, proxy.up).start()

        payer.sender.journal = cut
        receipt = payer.token.transfer(receiver, 3 * RPT)
        assert proxy.stats.refused >= 1
        assert receipt.nonce == nonce
        assert payer.token.balance_of(receiver) == before + 3 * RPT
        assert payer.sender.pending_nonce() == nonce + 1


def test_rpc_down_for_good_is_a_sentence_and_sends_nothing(anvil, deployment, accounts):
    proxy, payer = _proxied(anvil, deployment, accounts[3], attempts=3)
    with proxy:
        nonce = payer.sender.pending_nonce()
        payer.sender.journal = lambda signed: proxy.down()
        with pytest.raises(RpcUnavailable, match="did not answer while sending transferring tokens"):
            payer.token.transfer(accounts[8].address, RPT)
        proxy.up()
        assert payer.sender.pending_nonce() == nonce  # nothing reached the node
        payer.sender.journal = None
        assert payer.token.transfer(accounts[8].address, RPT).nonce == nonce  # no gap afterwards


def test_wrong_chain_id_is_refused(anvil, deployment, accounts, tmp_path):
    deployment.chain_id = 1
    with pytest.raises(ChainError, match="serves chain 31337, but the deployment file is for chain 1"):
        Chain.connect(anvil.rpc_url, deployment, accounts[0])


def test_missing_deployment_file(anvil, tmp_path):
    with pytest.raises(ChainError, match="does not exist; run `rollproof deploy` first"):
        Chain.connect(anvil.rpc_url, tmp_path / "deployment.json")


def test_journaled_transaction_survives_a_restart(anvil, deployment, accounts):
    """The node journals the signed bytes before broadcasting; the RPC dies; after a restart the
    journal is re-broadcast and the transfer lands exactly once under its original hash."""
    proxy, first_run = _proxied(anvil, deployment, accounts[4], attempts=2)
    journal = []
    receiver = accounts[8].address
    with proxy:
        before = first_run.token.balance_of(receiver)
        nonce = first_run.sender.pending_nonce()

        def record_then_die(signed):
            journal.append(signed)
            proxy.down()

        first_run.sender.journal = record_then_die
        with pytest.raises(RpcUnavailable):
            first_run.token.transfer(receiver, 11 * RPT)
    (signed,) = journal
    second_run = Chain.connect(anvil.rpc_url, deployment, accounts[4])
    receipt = second_run.sender.rebroadcast(signed)
    assert receipt.tx_hash == signed.tx_hash and receipt.nonce == nonce
    assert second_run.sender.rebroadcast(signed).tx_hash == signed.tx_hash  # again: harmless
    assert second_run.token.balance_of(receiver) == before + 11 * RPT
    assert second_run.sender.pending_nonce() == nonce + 1


def test_account_without_gas_money_is_told_so(anvil, deployment):
    from eth_account import Account

    broke = Chain.connect(anvil.rpc_url, deployment, Account.create())
    with pytest.raises(
        ChainError, match=r"cannot pay the gas for approving tokens: it holds 0\.000000 .* fund it first"
    ):
        broke.token.approve(deployment.address("StakeManager"), RPT)


def test_mined_revert_is_decoded_not_retried(chain_for, task_params):
    """State moved between estimation and mining: the failed receipt is explained, never resent."""
    unstaked = chain_for(5)
    task_id = chain_for(0).board.post_task(task_params())
    data = unstaked.settlement.contract.encode_abi("join", [task_id, b"\x05" * 32, b"\x06" * 32])
    nonce = unstaked.sender.pending_nonce()
    with pytest.raises(ChainRevert, match="is not staked as a miner"):
        unstaked.sender.send(unstaked.settlement.address, data, gas=200_000, description="joining")
    assert unstaked.sender.pending_nonce() == nonce + 1  # mined once (as a failure), not retried


def test_unknown_task_view_is_a_sentence(chain):
    with pytest.raises(ChainRevert, match=r"^reading getTask failed: task 999 does not exist\.$"):
        chain.board.get_task(999)


def test_forged_beacon_is_refused(chain, devnet_beacon):
    """A cheater signs the round with its own BLS key: the contract records nothing."""
    from node.devnet.beacon import DevnetBeacon

    forger = DevnetBeacon.from_seed(b"not the devnet key", genesis_time=devnet_beacon.info.genesis_time)
    round_ = devnet_beacon.current_round() + 5
    with pytest.raises(ChainRevert, match=f"signature for round {round_} does not verify"):
        chain.beacon.record_beacon(*forger.sign(round_).onchain_args())
    # The right signature for another round does not pass either.
    other_round, signature, point = devnet_beacon.sign(round_ + 1).onchain_args()
    with pytest.raises(ChainRevert, match=f"round {round_} does not verify"):
        chain.beacon.record_beacon(round_, signature, point)
    assert chain.beacon.randomness(round_) is None
    chain.beacon.record_beacon(*devnet_beacon.sign(round_).onchain_args())
    assert chain.beacon.randomness(round_) == devnet_beacon.sign(round_).randomness
