"""Disputes with the node's re-audit (node/roles/dispute.py) on a real Anvil and the real tiny model: a
coalition holding the first committee FAILs an honest miner and a cheater (tokens swapped after sampling),
naming a rollout. Each miner re-audits exactly the named evidence on its own rollouts with the validators'
code: the honest one passes and disputes, the cheater fails and does not. The jurors re-audit the same
evidence from the honest miner's openings, overturn, and the miner is PASSED and paid."""

from __future__ import annotations

import copy
import dataclasses
import secrets
from typing import Any

import pytest

from chain.clients import (
    Check,
    Evidence,
    Outcome,
    Role,
    Ruling,
    Verdict,
    Vote,
    env_id,
    forced_error_commitment,
)
from chain.deploy import DeployParams

RPT = 10**18
PROPOSER, HONEST, CHEATER, COALITION = 0, 1, 2, 3
JURORS = range(4, 10)


@pytest.fixture
def deploy_params() -> DeployParams:
    """The default committee (C = 64: a jury of 128 lots reaches its quorum), forced errors too rare to
    draw here."""
    return DeployParams(
        min_stake_evaluator=10 * RPT,
        cooldown=3600,
        max_task_duration=1800,
        min_audit_time=0,
        forced_error_odds=10**9,
        jury_commit_window=30,
    )


def _honest_stake_arrives(proposer, chain_for) -> None:
    """Honest validators add stake after the commit deadline: the jury weighs the stake at the verify deadline,
    the first committee the stake at the commit deadline, so the coalition that owned the first draw is a
    minority of the jury's (every validator but the task's miners sits by its stake)."""
    for i in JURORS:
        proposer.token.mint(chain_for(i).address, 100_000 * RPT)
        chain_for(i).stakes.stake(Role.VALIDATOR, 100_000 * RPT)


def _fail(miner: str, evidence: Evidence) -> Verdict:
    return Verdict(
        miner=miner,
        vote=Vote.FAIL,
        score=0,
        audited=2,
        rollout_index=evidence.rollout_index,
        position=evidence.position,
        check=evidence.check,
    )


def test_an_honest_miner_disputes_a_false_fail_and_the_jury_overturns_it(
    accounts, chain_for, clock, task_params, devnet_beacon
) -> None:
    from node.envs.letters import NAME as LETTERS
    from node.envs.letters import LettersEnv
    from node.roles.dispute import named_rollouts, reaudit
    from verifier.commitments import MerkleTree, leaf_hash
    from verifier.models import model_hash, new_adapter, tiny_model
    from verifier.params import AuditParams
    from verifier.rollout import TaskSpec
    from verifier.sampler import prove_rollouts

    model, tokenizer = tiny_model()
    policy = new_adapter(model, rank=4, seed=0)
    proposer, coalition = chain_for(PROPOSER), chain_for(COALITION)
    for i in (HONEST, CHEATER):
        chain_for(i).stakes.stake(Role.MINER, 100 * RPT)
    # The coalition holds 99 % of the validator stake, hence the whole first committee.
    proposer.token.mint(coalition.address, 60_000 * RPT)
    coalition.stakes.stake(Role.VALIDATOR, 60_000 * RPT)
    for i in JURORS:
        chain_for(i).stakes.stake(Role.VALIDATOR, 100 * RPT)
    params = task_params(
        step=60, env_id=env_id(LETTERS), base_model_hash=model_hash(model), max_tokens=8, max_miners=4
    )
    task_id = proposer.board.post_task(params)
    task = proposer.board.get_task(task_id)
    for i in (HONEST, CHEATER):
        commitment = forced_error_commitment(task_id, accounts[i].address, secrets.token_bytes(32))
        chain_for(i).settlement.join(task_id, b"\x07" * 32, commitment)
    clock.warp_to(params.join_deadline + 1)
    seed = devnet_beacon.sign(task.seed_round)
    proposer.beacon.record_beacon(*seed.onchain_args())
    spec = TaskSpec(task_id, 1, 2, 2, 8, 700, seed.randomness)
    committed = {}
    for i in (HONEST, CHEATER):
        rollouts = prove_rollouts(policy, tokenizer, LettersEnv(), spec, accounts[i].address)
        if i == CHEATER:  # a different token than the sampler drew, everywhere: any audit finds it
            rollouts = [
                dataclasses.replace(r, tokens=((r.tokens[0] + 1) % 1000, *r.tokens[1:])) for r in rollouts
            ]
        tree = MerkleTree.of([leaf_hash(r) for r in rollouts])
        committed[i] = (rollouts, tree)
        chain_for(i).settlement.commit(task_id, tree.root, len(rollouts))

    # The coalition fails both, naming rollout 1, position 0, TOKEN.
    named = Evidence(rollout_index=1, position=0, check=Check.TOKEN)
    clock.warp_to(params.commit_deadline + 1)
    clock.warp_to(max(clock.timestamp(), proposer.board.round_time(task.challenge_round)))
    proposer.beacon.record_beacon(*devnet_beacon.sign(task.challenge_round).onchain_args())
    votes = [_fail(accounts[i].address, named) for i in (HONEST, CHEATER)]
    salt = secrets.token_bytes(32)
    coalition.settlement.commit_verdict(task_id, votes, salt)
    first = [i for i in JURORS if proposer.settlement.committee_seats(task_id, accounts[i].address)]
    for i in first:  # honest members drawn: they audit the honest miner right and the cheater right
        chain_for(i).settlement.commit_verdict(
            task_id, [Verdict.from_pass(accounts[HONEST].address, True, 500_000, 2), votes[1]], salt
        )
    clock.warp_to(params.verdict_deadline + 1)
    coalition.settlement.reveal_verdict(task_id, votes, salt)
    for i in first:
        chain_for(i).settlement.reveal_verdict(
            task_id, [Verdict.from_pass(accounts[HONEST].address, True, 500_000, 2), votes[1]], salt
        )
    _honest_stake_arrives(proposer, chain_for)
    clock.warp_to(params.verify_deadline + 1)

    # Each FAILED miner re-audits exactly the named evidence on its own rollouts.
    stored = dataclasses.asdict(proposer.board.get_task(task_id).params)
    audit_spec = dataclasses.replace(spec, audit=AuditParams.from_mapping(stored))
    outcome = {}
    for i in (HONEST, CHEATER):
        miner = accounts[i].address
        assert chain_for(i).disputes.can_dispute(task_id, miner)
        evidence = proposer.settlement.fail_evidence(task_id, miner)
        assert evidence == [named]
        rollouts, tree = committed[i]
        indices = named_rollouts(evidence, audit_spec.total_rollouts)
        chosen = [rollouts[k] for k in indices]
        verdict = reaudit(
            policy, tokenizer, LettersEnv(), audit_spec, miner, tree.root, evidence, chosen,
            [tree.proof(leaf_hash(r)) for r in chosen],
        )  # fmt: skip
        outcome[i] = verdict
        if verdict.passed:
            chain_for(i).disputes.dispute(task_id)
    assert outcome[HONEST].passed and not outcome[CHEATER].passed
    assert proposer.disputes.dispute_of(task_id, accounts[CHEATER].address).ruling == Ruling.NONE

    # The jury re-audits the honest miner's named rollouts from its openings and overturns.
    honest = accounts[HONEST].address
    windows = proposer.disputes.windows(task_id)
    clock.warp_to(max(windows.dispute_deadline + 1, proposer.board.round_time(windows.round)))
    proposer.beacon.record_beacon(*devnet_beacon.sign(windows.round).onchain_args())
    jurors = [i for i in JURORS if proposer.disputes.juror_seats(task_id, honest, accounts[i].address)]
    assert jurors, "a jury is drawn"
    # The accuser sits by its stake like everyone else (a minority now); it stays away rather than lose its bond.
    assert proposer.disputes.juror_seats(task_id, honest, coalition.address) > 0
    rollouts, tree = committed[HONEST]
    chosen = [rollouts[k] for k in named_rollouts([named], audit_spec.total_rollouts)]
    ruling = reaudit(
        policy, tokenizer, LettersEnv(), audit_spec, honest, tree.root, [named], chosen,
        [tree.proof(leaf_hash(r)) for r in chosen],
    )  # fmt: skip
    assert ruling.passed
    for i in jurors:
        chain_for(i).disputes.commit_ruling(task_id, honest, True, ruling.score, salt)
    clock.warp_to(windows.commit_deadline + 1)
    for i in jurors:
        chain_for(i).disputes.reveal_ruling(task_id, honest, True, ruling.score, salt)
    clock.warp_to(windows.reveal_deadline + 1)
    proposer.disputes.resolve(task_id, honest)
    assert proposer.disputes.dispute_of(task_id, honest).ruling == Ruling.OVERTURNED
    proposer.settlement.finalize(task_id)
    assert proposer.settlement.miner_state(task_id, honest).outcome == Outcome.PASSED
    assert proposer.settlement.miner_state(task_id, honest).score == ruling.score
    cheater = proposer.settlement.miner_state(task_id, accounts[CHEATER].address)
    assert cheater.outcome == Outcome.FAILED and cheater.slashed == cheater.locked
    proposer.settlement.settle_validator(task_id, coalition.address)
    assert proposer.settlement.validator_state(task_id, coalition.address).penalized


# ---- the node glue end to end: dispute_if_wrongly_failed and the Jury, with stored jury salts --------------

BIG, FRAMED = 2, 1


@dataclasses.dataclass
class _Ctx:
    """The parts of node.runtime.context.NodeContext that the dispute glue reads (chain, store, address)."""

    chain: Any
    store: Any
    address: str
    role: Any
    beacon: Any = None  # every beacon the glue needs is on chain or in the store already


class _MinerSide:
    """The miner role's state the glue reads: its committed rollouts, the policy it generated with."""

    def __init__(self, ctx: _Ctx, policy: Any, tokenizer: Any, committed: tuple[list, Any]) -> None:
        import threading

        self.ctx, self.policy, self.tokenizer = ctx, policy, tokenizer
        self.dispute_checked: set[int] = set()
        self.lock = threading.Lock()
        self._committed = committed

    def tree(self, task_id: int) -> tuple[Any, list]:
        rollouts, tree = self._committed
        return tree, rollouts

    def _activate(self, adapter_hash: bytes) -> None:
        """The live policy is the one it joined with (one task here)."""

    def env(self, name: str) -> Any:
        from node.tasks.view import get_env

        return get_env(name)


class _ValidatorSide:
    """The validator role's state the Jury reads; openings come straight from the miner's tree (what
    `fetch_openings` returns over libp2p, tested in tests/p2p)."""

    def __init__(self, ctx: _Ctx, policy: Any, tokenizer: Any, miner: _MinerSide, base_hash: bytes) -> None:
        self.ctx, self.tokenizer, self.miner = ctx, tokenizer, miner
        self.policy, self.base_hash = policy, base_hash  # the juror checks its policy against the task
        self.policies: dict[bytes, Any] = {}

    def openings(
        self, task_id: int, miner: str, root: bytes, tv: Any, indices: list[int]
    ) -> tuple[list, list]:
        from verifier.commitments import leaf_hash

        tree, rollouts = self.miner.tree(task_id)
        chosen = [rollouts[i] for i in indices]
        return chosen, [tree.proof(leaf_hash(r)) for r in chosen]

    def policy_for(self, miner: str, adapter_hash: bytes) -> Any:
        return self.policy

    def env(self, name: str) -> Any:
        from node.tasks.view import get_env

        return get_env(name)


def _node_ctx(chain: Any, store_url: str, role: Any, task_id: int, seed: bytes) -> _Ctx:
    """A node's view of the task: recorded from the chain into its own store, with its seed randomness."""
    from node.store import open_store
    from node.tasks.view import record_task

    ctx = _Ctx(chain=chain, store=open_store(store_url), address=chain.address, role=role)
    record_task(ctx, task_id)
    ctx.store.set_task_randomness(task_id, seed=seed)
    return ctx


def test_the_node_glue_disputes_a_frame_and_jurors_restarted_between_commit_and_reveal_overturn_it(
    accounts, chain_for, clock, task_params, devnet_beacon, tmp_path
) -> None:
    """A coalition holding half of the validator stake FAILs an honest miner without auditing it (naming a
    rollout); an honest validator as large PASSes it: no supermajority, the miner is UNDECIDED (the frame that
    used to cost nothing). The miner's node (`dispute_if_wrongly_failed`) re-audits the named evidence, which
    passes, and disputes. Each juror's node (`Jury`) re-audits from the openings and commits; every juror node
    then restarts (a new Jury on the reopened store) and reveals the ruling it committed, with the stored
    salt; the jury overturns, the miner is PASSED and paid, keeps its stake, and the coalition loses its bond."""
    from node.envs.letters import NAME as LETTERS
    from node.envs.letters import LettersEnv
    from node.roles.dispute import Jury, JuryCase, dispute_if_wrongly_failed
    from node.store import Role as NodeRole
    from node.store import open_store
    from node.tasks.view import task_view
    from verifier.commitments import MerkleTree, leaf_hash
    from verifier.models import model_hash, new_adapter, tiny_model
    from verifier.rollout import TaskSpec
    from verifier.sampler import prove_rollouts
    from verifier.tokenizer import tokenizer_hash

    model, tokenizer = tiny_model()
    policy = new_adapter(model, rank=4, seed=0)
    proposer, coalition, big = chain_for(PROPOSER), chain_for(COALITION), chain_for(BIG)
    chain_for(FRAMED).stakes.stake(Role.MINER, 100 * RPT)
    # 60,000 each: a twelfth of the stake the jury weighs, so the accuser's share of the 2C = 128 lots is about
    # 11 seats (at 30,000 some drand rounds gave it none and the assertion below failed by chance).
    for side in (coalition, big):
        proposer.token.mint(side.address, 60_000 * RPT)
        side.stakes.stake(Role.VALIDATOR, 60_000 * RPT)
    for i in JURORS:
        chain_for(i).stakes.stake(Role.VALIDATOR, 100 * RPT)
    params = task_params(
        step=60,
        env_id=env_id(LETTERS),
        base_model_hash=model_hash(model),
        tokenizer_hash=tokenizer_hash(tokenizer),
        max_tokens=8,
        max_miners=4,
    )
    task_id = proposer.board.post_task(params)
    task = proposer.board.get_task(task_id)
    miner = accounts[FRAMED].address
    commitment = forced_error_commitment(task_id, miner, secrets.token_bytes(32))
    chain_for(FRAMED).settlement.join(task_id, b"\x07" * 32, commitment)
    clock.warp_to(params.join_deadline + 1)
    seed = devnet_beacon.sign(task.seed_round)
    proposer.beacon.record_beacon(*seed.onchain_args())
    spec = TaskSpec(task_id, 1, 2, 2, 8, 700, seed.randomness)
    rollouts = prove_rollouts(policy, tokenizer, LettersEnv(), spec, miner)
    tree = MerkleTree.of([leaf_hash(r) for r in rollouts])
    chain_for(FRAMED).settlement.commit(task_id, tree.root, len(rollouts))

    clock.warp_to(params.commit_deadline + 1)
    clock.warp_to(max(clock.timestamp(), proposer.board.round_time(task.challenge_round)))
    proposer.beacon.record_beacon(*devnet_beacon.sign(task.challenge_round).onchain_args())
    frame = [_fail(miner, Evidence(rollout_index=1, position=0, check=Check.TOKEN))]
    honest_pass = [Verdict.from_pass(miner, True, 500_000, 2)]
    first = [i for i in JURORS if proposer.settlement.committee_seats(task_id, accounts[i].address)]
    salt = secrets.token_bytes(32)
    voters = {COALITION: frame, BIG: honest_pass, **{i: honest_pass for i in first}}
    for i, votes in voters.items():
        chain_for(i).settlement.commit_verdict(task_id, votes, salt)
    clock.warp_to(params.verdict_deadline + 1)
    for i, votes in voters.items():
        chain_for(i).settlement.reveal_verdict(task_id, votes, salt)
    _honest_stake_arrives(proposer, chain_for)
    clock.warp_to(params.verify_deadline + 1)
    tally = proposer.settlement.tally_of(task_id, miner)
    revealed = proposer.settlement.task_settlement(task_id).revealed_seats
    assert 0 < tally.fail_seats and 3 * tally.fail_seats < 2 * revealed, "no FAIL supermajority"
    assert 3 * tally.pass_seats < 2 * revealed, "no PASS supermajority: the frame blocks the miner"

    # The miner's node: re-audits the named evidence on its own rollouts and disputes.
    miner_ctx = _node_ctx(
        chain_for(FRAMED), f"sqlite:///{tmp_path / 'miner.db'}", NodeRole.MINER, task_id, seed.randomness
    )
    miner_side = _MinerSide(miner_ctx, policy, tokenizer, (rollouts, tree))
    # Without free tokens for the deposit (it is paid on top of the lock) the node says so and goes on.
    wallet = chain_for(FRAMED).token.balance_of(miner)
    chain_for(FRAMED).token.transfer(proposer.address, wallet)
    assert dispute_if_wrongly_failed(miner_side, task_view(miner_ctx, task_id))
    assert proposer.disputes.dispute_of(task_id, miner).ruling == Ruling.NONE
    proposer.token.transfer(miner, wallet)
    miner_side.dispute_checked.discard(task_id)
    assert dispute_if_wrongly_failed(miner_side, task_view(miner_ctx, task_id))
    assert proposer.disputes.dispute_of(task_id, miner).ruling == Ruling.OPEN

    # The jurors' nodes: every validator but the task's miners (the accuser too, which stays away; the honest
    # PASS voters), each re-audits and commits when drawn, storing its salt first.
    windows = proposer.disputes.windows(task_id)
    clock.warp_to(max(windows.dispute_deadline + 1, proposer.board.round_time(windows.round)))
    proposer.beacon.record_beacon(*devnet_beacon.sign(windows.round).onchain_args())
    proposer.token.mint(big.address, 1_000 * RPT)  # its jury bonds
    assert proposer.disputes.juror_seats(task_id, miner, coalition.address) > 0, (
        "the accuser sits by its stake"
    )
    urls = {i: f"sqlite:///{tmp_path / f'juror{i}.db'}" for i in (BIG, *JURORS)}
    sides = {
        i: _ValidatorSide(
            _node_ctx(chain_for(i), url, NodeRole.VALIDATOR, task_id, seed.randomness),
            policy,
            tokenizer,
            miner_side,
            model_hash(model),
        )
        for i, url in urls.items()
    }
    # A juror whose node is not the task's (another base model, another chat template: the tokenizer hash
    # differs) does not re-audit with it: it upholds the FAIL, as when the openings are missing. The same
    # re-audit on the task's model and tokenizer overturns.
    template = copy.deepcopy(tokenizer)
    template.chat_template = tokenizer.chat_template.replace("<|im_start|>", "<|im_start|> ", 1)
    misconfigured = {
        "base model": (tokenizer, b"\x09" * 32),
        "tokenizer": (template, model_hash(model)),
    }
    for what, (tok, base) in misconfigured.items():
        url = f"sqlite:///{tmp_path / f'misconfigured-{what[0]}.db'}"
        ctx = _node_ctx(chain_for(BIG), url, NodeRole.VALIDATOR, task_id, seed.randomness)
        side = _ValidatorSide(ctx, policy, tok, miner_side, base)
        assert Jury(side).reaudit(JuryCase(task_id, miner)) == (False, 0), what
        ctx.store.close()
    overturn, score = Jury(sides[BIG]).reaudit(JuryCase(task_id, miner))
    assert overturn and score > 0

    juries = {i: Jury(side) for i, side in sides.items()}
    for jury in juries.values():
        jury.step()
    seated = [i for i in juries if proposer.disputes.juror_seats(task_id, miner, accounts[i].address)]
    assert seated, "a jury is drawn"
    for i in seated:
        stored = sides[i].ctx.store.jury_ruling(task_id, miner)
        assert stored is not None and stored.overturn and stored.stage == "committed"
        assert proposer.disputes.juror_of(task_id, miner, accounts[i].address).commit_hash != bytes(32)

    # Every juror node restarts between commit and reveal: a new Jury on the reopened store.
    for i, side in sides.items():
        side.ctx.store.close()
        side.ctx.store = open_store(urls[i])
    juries = {i: Jury(side) for i, side in sides.items()}
    clock.warp_to(windows.commit_deadline + 1)
    for jury in juries.values():
        jury.step()
    for i in seated:
        assert proposer.disputes.juror_of(task_id, miner, accounts[i].address).revealed, f"juror {i} revealed"
    clock.warp_to(windows.reveal_deadline + 1)
    for jury in juries.values():
        jury.step()
    assert proposer.disputes.dispute_of(task_id, miner).ruling == Ruling.OVERTURNED
    for i in seated:
        juror = proposer.disputes.juror_of(task_id, miner, accounts[i].address)
        assert juror.settled and not juror.penalized, f"juror {i} kept its bond"
        assert sides[i].ctx.store.jury_ruling(task_id, miner).stage == "done"

    proposer.settlement.finalize(task_id)
    state = proposer.settlement.miner_state(task_id, miner)
    assert state.outcome == Outcome.PASSED and state.paid > 0 and state.slashed == 0
    assert proposer.stakes.active_stake(miner, Role.MINER) == 100 * RPT, "the framed miner keeps its stake"
    before = proposer.stakes.active_stake(coalition.address, Role.VALIDATOR)
    bond = proposer.settlement.validator_state(task_id, coalition.address).bond
    proposer.settlement.settle_validator(task_id, coalition.address)
    assert proposer.settlement.validator_state(task_id, coalition.address).penalized
    assert proposer.stakes.active_stake(coalition.address, Role.VALIDATOR) == before - bond, "the frame costs"
    for ctx in [miner_ctx, *(side.ctx for side in sides.values())]:
        ctx.store.close()


def test_a_jury_ruling_is_stored_once_and_survives_reopening_the_store(store_url: str) -> None:
    """The salt and ruling a juror commits are stored before the commitment is sent and never replaced
    (a second save after a crash returns the first); the stage moves forward; bad input is refused."""
    from node.store import open_store

    miner = "0x" + "ab" * 20
    salt = secrets.token_bytes(32)
    with open_store(store_url) as store:
        row = store.save_jury_ruling(7, miner, True, 650_000, salt)
        again = store.save_jury_ruling(7, miner, False, 0, secrets.token_bytes(32))
        assert (again.overturn, again.score, again.salt) == (True, 650_000, "0x" + salt.hex())
        assert row.stage == "committed"
        store.set_jury_stage(7, miner, "revealed")
        with pytest.raises(ValueError, match="stage must be one of"):
            store.set_jury_stage(7, miner, "won")
        with pytest.raises(ValueError, match="No ruling stored"):
            store.set_jury_stage(8, miner, "done")
        with pytest.raises(ValueError, match="score must be at most"):
            store.save_jury_ruling(9, miner, True, 1_000_001, salt)
        with pytest.raises(ValueError, match="not an Ethereum address"):
            store.save_jury_ruling(9, "0xnope", True, 0, salt)
    with open_store(store_url) as store:
        kept = store.jury_ruling(7, miner)
        assert kept is not None and kept.stage == "revealed" and kept.salt == "0x" + salt.hex()
        assert [r.task_id for r in store.jury_rulings(unfinished=True)] == [7]
        store.set_jury_stage(7, miner, "done")
        assert store.jury_rulings(unfinished=True) == []
