"""The log follower: confirmations, restarts and RPC outages without gaps or repeats."""

from __future__ import annotations

import pytest

from chain.clients import Chain, Role
from chain.events import FollowerConfig, InMemoryCursorStore, JsonFileCursorStore, LogFollower
from chain.testing import CuttableProxy
from chain.tx import RetryPolicy, RpcUnavailable, make_web3

RPT = 10**18


def _stake_events(events):
    return [(e.args["who"], e.args["amount"]) for e in events if e.name == "Staked"]


def test_follower_resumes_after_restart_and_outage(anvil, deployment, chain_for, tmp_path):
    cursor_file = tmp_path / "cursor.json"
    proxy = CuttableProxy("127.0.0.1", anvil.port)
    config = FollowerConfig(
        start_block=deployment.deploy_block, max_range=3, retry=RetryPolicy(attempts=2, first_delay=0.05)
    )

    def follower() -> LogFollower:
        return LogFollower(
            make_web3(proxy.url), deployment.addresses, JsonFileCursorStore(cursor_file), "t", config
        )

    miner = chain_for(1)
    seen = []
    with proxy:
        first = follower()
        miner.stakes.stake(Role.MINER, 1 * RPT)
        first.poll(seen.append)
        assert _stake_events(seen) == [(miner.address, 1 * RPT)]

        # Restart: a new follower (new process) with the same cursor file.
        miner.stakes.stake(Role.MINER, 2 * RPT)
        follower().poll(seen.append)
        assert _stake_events(seen)[-1] == (miner.address, 2 * RPT)

        # Outage: events keep happening on chain while the follower's RPC is cut.
        proxy.down()
        for amount in (3, 4, 5, 6, 7):
            miner.stakes.stake(Role.MINER, amount * RPT)  # straight to Anvil, not through the proxy
        outage = follower()
        with pytest.raises(RpcUnavailable, match="did not answer"):
            outage.poll(seen.append)
        proxy.up()
        outage.poll(seen.append)

    amounts = [a for _, a in _stake_events(seen)]
    assert amounts == [n * RPT for n in range(1, 8)]  # every event, in order, once
    keys = [(e.block_number, e.log_index) for e in seen]
    assert keys == sorted(set(keys))


def test_confirmation_depth_holds_back_recent_blocks(anvil, deployment, chain_for):
    cursor = InMemoryCursorStore()
    follower = chain_for(0).follower(cursor, key="deep", confirmations=3)
    follower.drain()
    miner = chain_for(1)
    miner.stakes.stake(Role.MINER, 1 * RPT)
    assert _stake_events(follower.drain()) == []  # not yet 3 blocks deep
    anvil.mine(3)
    assert _stake_events(follower.drain()) == [(miner.address, 1 * RPT)]
    assert follower.drain() == []


def test_events_are_plain_python(chain: Chain, chain_for):
    chain_for(1).stakes.stake(Role.MINER, 5 * RPT)
    events = chain.follower(InMemoryCursorStore()).drain()
    staked = [e for e in events if e.name == "Staked"][-1]
    assert staked.contract == "StakeManager"
    assert type(staked.args["who"]) is str and type(staked.args["amount"]) is int
    assert type(staked.tx_hash) is str and staked.tx_hash.startswith("0x")
    transfers = [e for e in events if e.name == "Transfer"]
    assert transfers and all(e.contract == "RollToken" for e in transfers)


def test_corrupt_cursor_file_is_a_sentence(tmp_path):
    from chain.errors import ChainError

    path = tmp_path / "cursor.json"
    path.write_text("{not json")
    with pytest.raises(ChainError, match="is corrupt .* delete it to re-read events"):
        JsonFileCursorStore(path).get("x")
    good = JsonFileCursorStore(tmp_path / "ok.json")
    good.set("a", 5)
    good.set("b", 7)
    assert (good.get("a"), good.get("b"), good.get("c")) == (5, 7, None)
