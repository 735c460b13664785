"""A whole devnet with the tiny model: 2 honest miners, 1 cheater, 2 honest validators, a lazy and an
always-fail validator, 1 evaluator, 2 tasks (Settlement v2: committees, bonds, forced errors).

Task 1 is audited by every committee member. Validator 2 goes offline after task 1 (a validator
offline for a whole task): task 2 must settle without it, and no honest party may lose stake.
Assertions are on chain state (outcomes, locks, bonds, payments by the contract's own formulas) and
on the nodes' stores.
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
        out_dir=tmp_path / "net",
        tasks=2,
        honest_miners=2,
        cheaters=1,
        validators=2,
        lazy_validators=1,
        failing_validators=1,
        evaluators=1,
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
                return store.task_state(1, Role.VALIDATOR) in (
                    ValidatorState.FINALIZED,
                    ValidatorState.SKIPPED,
                )

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
        s = chain.settlement
        params = s.params()
        assert params.forced_error_odds == options.forced_error_odds  # the devnet's own deploy config
        addr = {name: node.address for name, node in net.nodes.items()}

        # ---- task 1: the cheater is caught and its whole lock slashed ----------------------------
        honest = ["miner1", "miner2"]
        ts1 = s.task_settlement(1)
        t1 = {name: miner_outcome(net, 1, name) for name in [*honest, "cheater1"]}
        assert t1["cheater1"].outcome == Outcome.FAILED
        assert t1["cheater1"].slashed == ts1.lock == t1["cheater1"].locked > 0
        assert t1["cheater1"].paid == 0
        base = ts1.cap * params.base_share_bps // 10_000
        for name in honest:
            assert t1[name].outcome in (Outcome.PASSED, Outcome.FORCED)
            assert t1[name].slashed == 0 and t1[name].paid >= base
            # A forced miner obeyed (revealed on chain) exactly when its secret says so.
            assert t1[name].forced == (t1[name].outcome == Outcome.FORCED)
        committee = s.validators(1)
        for v in ("validator1", "validator2"):
            vs = s.validator_state(1, addr[v])
            assert addr[v] in committee and vs.seats > 0
            assert vs.revealed and vs.settled and not vs.penalized and vs.fee > 0
        # The lazy validator passed the cheater (FAILED by the votes): it loses its bond. The always-fail
        # one loses its bond when it failed a PASSED miner; when every honest miner happened to be a
        # forced error (1 in F^2 tasks) its FAILs were right by the rule of PROTOCOL §2.9, and its loss
        # shows over tasks instead (the devnet's own "lost money" check, bench/economics).
        lazy = s.validator_state(1, addr["lazy1"])
        if lazy.seats:
            assert lazy.penalized and lazy.fee == 0 and lazy.jackpot == 0
        failer = s.validator_state(1, addr["failer1"])
        if failer.seats and any(t1[name].outcome == Outcome.PASSED for name in honest):
            assert failer.penalized and failer.fee == 0 and failer.jackpot == 0
        elif failer.seats:
            assert not failer.penalized

        # ---- task 2: validator 2 offline; nobody honest loses stake ---------------------------------
        v2 = s.validator_state(2, addr["validator2"])
        assert not v2.revealed and v2.commit_hash == bytes(32)
        for name in honest:
            m = miner_outcome(net, 2, name)
            assert m.committed and m.slashed == 0
            # Without validator 2 the committee may miss its quorum: then nobody verified the work and it
            # is paid nothing, forced or not (RedTeam H1/H5/H16), but never slashed; a passed miner is paid.
            ts2 = s.task_settlement(2)
            quorum = ts2.revealed_seats * 10_000 >= params.quorum_bps * params.committee_seats
            if not quorum:
                assert m.outcome in (Outcome.NO_QUORUM, Outcome.FORCED) and m.paid == 0
            elif m.outcome == Outcome.PASSED:
                assert m.paid > 0
        v1 = s.validator_state(2, addr["validator1"])
        assert not v1.penalized
        # Slashed below the minimum stake, the cheater could not even join task 2.
        assert not miner_outcome(net, 2, "cheater1").joined
        for name in [*honest, "validator1", "validator2"]:
            role = 0 if name.startswith("miner") else 1
            assert chain.stakes.locked_stake(addr[name], role) == 0
            assert chain.stakes.active_stake(addr[name], role) == net.min_stake(role) * (
                1 if role == 0 else options.honest_validator_stake
            )

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
            for name in honest:
                mine = [a for a in audits if a.miner == addr[name]]
                if t1[name].outcome == Outcome.FORCED:
                    # The prescribed wrong commitment: honest tokens, shifted logprobs; only the logprob check fires.
                    assert mine and all(not a.passed and a.reason.startswith("logprob") for a in mine)
                else:
                    assert all(a.passed for a in mine)
        with net.nodes["validator2"].store() as store:
            assert store.task_state(1, Role.VALIDATOR) == ValidatorState.FINALIZED
            assert store.task_state(2, Role.VALIDATOR) != ValidatorState.REVEALED
            # Same verdicts from openings as validator 1 from gossip: the cheater failed the token check.
            audits = store.audits(1)
            assert any(not a.passed and "token" in (a.reason or "") for a in audits if a.miner == cheater)
            passed = {addr[n] for n in honest if t1[n].outcome == Outcome.PASSED}
            assert all(a.passed for a in audits if a.miner in passed)
        assert "fetched openings" in (net.nodes["validator2"].data_dir / "node.log").read_text()
