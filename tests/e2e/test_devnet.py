"""A whole devnet with the tiny model: 2 honest miners, 1 cheater, 2 validators, 1 evaluator, 2 tasks.

Task 1 is audited by both validators. Validator 2 goes offline after task 1 (a validator offline for
a whole task): task 2 must settle on validator 1's verdicts alone. Assertions are on chain state
(who was paid how much, who was slashed, by the contract's own formulas) and on the nodes' stores.
"""

from __future__ import annotations

import json

from e2e_helpers import drive, miner_outcome, sent_actions

from chain.clients import Outcome
from node.devnet import Devnet, DevnetOptions
from node.store import MinerState, Role, ValidatorState

RPT = 10**18


def test_devnet_pays_honest_slashes_cheater_and_survives_an_offline_validator(tmp_path):
    options = DevnetOptions.tiny(
        out_dir=tmp_path / "net", tasks=2, honest_miners=2, cheaters=1, validators=2, evaluators=1
    )
    with Devnet(options) as net:
        net.start()
        # Validator 2 ignores gossip: it audits from openings served by each miner (request/response).
        path = net.nodes["validator2"].config_path
        path.write_text(json.dumps({**json.loads(path.read_text()), "use_gossip": False}))
        net.start_nodes()
        net.start_proposer()
        drive(net, lambda: 1 in net.finalized_tasks(), 300)

        def validator2_done_with_task1() -> bool:
            with net.nodes["validator2"].store() as store:
                return store.task_state(1, Role.VALIDATOR) == ValidatorState.FINALIZED

        drive(net, validator2_done_with_task1, 60)
        net.nodes["validator2"].stop()  # offline for the whole of task 2
        drive(net, lambda: 2 in net.finalized_tasks(), 240)
        proposer = net.nodes["proposer"]
        drive(net, lambda: not proposer.running, 60)
        workers = [n for n in net.nodes.values() if n.role == "miner" or n.name == "validator1"]
        drive(net, lambda: all(not n.running for n in workers), 90)
        net.poll_events()

        chain = net.chain
        assert chain is not None and net.deployment is not None
        fee_bps = net.deployment.params.validator_fee_bps
        slash_bps = net.deployment.params.slash_bps
        miner_pool = options.reward - options.reward * fee_bps // 10_000
        stake = net.min_stake(0)  # what each devnet miner stakes

        # ---- task 1: both validators, the cheater is caught and slashed -----------------------
        honest = ["miner1", "miner2"]
        t1 = {name: miner_outcome(net, 1, name) for name in [*honest, "cheater1"]}
        assert t1["cheater1"].outcome == Outcome.FAILED
        assert t1["cheater1"].slashed == stake * slash_bps // 10_000
        assert t1["cheater1"].paid == 0
        total_score = sum(t1[n].score for n in honest)
        assert total_score > 0
        for name in honest:
            assert t1[name].outcome == Outcome.PASSED
            assert t1[name].slashed == 0
            assert t1[name].paid == miner_pool * t1[name].score // total_score
        for v in ("validator1", "validator2"):
            vs = chain.settlement.validator_state(1, net.nodes[v].address)
            assert vs.revealed and vs.agreed and vs.paid > 0
        ts1 = chain.settlement.task_settlement(1)
        paid_out = sum(t1[n].paid for n in t1) + sum(
            chain.settlement.validator_state(1, net.nodes[v].address).paid
            for v in ("validator1", "validator2")
        )
        assert paid_out + ts1.refund == options.reward + ts1.slashed

        # ---- task 2: validator 2 offline; validator 1 alone settles it ---------------------------
        v2 = chain.settlement.validator_state(2, net.nodes["validator2"].address)
        assert not v2.revealed and v2.commit_hash == bytes(32)
        v1 = chain.settlement.validator_state(2, net.nodes["validator1"].address)
        assert v1.revealed and v1.agreed
        for name in honest:
            assert miner_outcome(net, 2, name).outcome == Outcome.PASSED
            assert miner_outcome(net, 2, name).paid > 0
        # Slashed below the minimum stake, the cheater could not even join task 2.
        assert not miner_outcome(net, 2, "cheater1").joined

        # ---- balances, stores, and no transaction sent twice ------------------------------------
        assert net.reconcile() == []
        for name in [*honest, "cheater1"]:
            node = net.nodes[name]
            actions = sent_actions(net, node.address)
            assert all(count == 1 for (fn, task), count in actions.items() if task is not None), actions
            with node.store() as store:
                assert store.task_state(1, Role.MINER) == MinerState.CLAIMED
                rows = store.own_rollouts(1)
                assert len(rows) == options.num_problems * options.rollouts_per_problem
                assert len({r.leaf for r in rows}) == len(rows)
                # The honest miners learned between the tasks: their adapter descends from the first.
                if name != "cheater1":
                    assert store.latest_own_adapter().parent is not None
        with net.nodes["validator1"].store() as store:
            assert store.task_state(1, Role.VALIDATOR) == ValidatorState.FINALIZED
            assert store.task_state(2, Role.VALIDATOR) == ValidatorState.FINALIZED
            cheater = net.nodes["cheater1"].address
            audits = store.audits(1)
            assert {a.miner for a in audits} == {net.nodes[n].address for n in [*honest, "cheater1"]}
            assert any(not a.passed and "token" in (a.reason or "") for a in audits if a.miner == cheater)
            assert all(a.passed for a in audits if a.miner != cheater)
        with net.nodes["validator2"].store() as store:
            assert store.task_state(1, Role.VALIDATOR) == ValidatorState.FINALIZED
            assert store.task_state(2, Role.VALIDATOR) != ValidatorState.REVEALED
            # Same verdicts from openings as validator 1 from gossip: the cheater failed the token check.
            audits = store.audits(1)
            assert any(not a.passed and "token" in (a.reason or "") for a in audits if a.miner == cheater)
            assert all(a.passed for a in audits if a.miner != cheater)
        assert "fetched openings" in (net.nodes["validator2"].data_dir / "node.log").read_text()
