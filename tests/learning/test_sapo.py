"""SAPO mixing: external rollouts are re-scored locally, zero-advantage groups are dropped."""

import random

import pytest

from node.envs import get_env
from node.train import GRPOConfig, MinerLearner, SapoConfig, drop_zero_advantage, rescore_rollouts, sapo_mix
from node.train.sapo import RescoreStats
from verifier.models import new_adapter, tiny_model
from verifier.rollout import REWARD_SCALE, Rollout
from verifier.sampler import chat_prompt_ids

ME = "0x" + "aa" * 20
PEER = "0x" + "bb" * 20
LIAR = "0x" + "cc" * 20


@pytest.fixture(scope="module")
def env():
    return get_env("basic_arithmetic")


@pytest.fixture(scope="module")
def problems(env):
    generated = env.generate(b"sapo-test", 4, 0)
    return {(7, p.index): p for p in generated}


def _rollout(tokenizer, miner, p, g, text, claimed=0, prompt_ids=(1, 2, 3), completion=None, task_id=7):
    tokens = tuple(tokenizer.encode(text)) + (tokenizer.eos_token_id,)
    return Rollout(
        task_id, miner, p, g, prompt_ids, tokens, (0.0,) * len(tokens), claimed, completion or text
    )


def _right(problem):
    return f"<answer>{problem.answer}</answer>"


def _wrong(problem):
    return f"<answer>{int(problem.answer) + 1}</answer>"


def test_external_rewards_come_from_the_local_scorer_not_the_claim(env, tokenizer, problems):
    p = problems[(7, 0)]
    lies = [
        # Claims full reward for a wrong answer, and puts the right answer in the text field.
        _rollout(tokenizer, LIAR, 0, 0, _wrong(p), claimed=REWARD_SCALE, completion=_right(p)),
        # Claims zero for a right answer.
        _rollout(tokenizer, LIAR, 0, 1, _right(p), claimed=0),
    ]
    (group,) = rescore_rollouts(env, tokenizer, problems, lies, local=False, exclude_miner=ME)
    assert [c.reward for c in group.completions] == pytest.approx([0.2, 1.0])
    assert [c.correct for c in group.completions] == [0.0, 1.0]
    assert group.local is False and group.key == (7, 0, LIAR)


def test_prompt_is_rebuilt_from_the_problem_not_taken_from_the_sender(env, tokenizer, problems):
    p = problems[(7, 1)]
    bogus = [_rollout(tokenizer, PEER, 1, g, _right(p), prompt_ids=(9, 9, 9)) for g in range(2)]
    (group,) = rescore_rollouts(env, tokenizer, problems, bogus, local=False)
    assert group.prompt_ids == tuple(chat_prompt_ids(tokenizer, env.messages(p)))


def test_unknown_problems_malformed_tokens_and_own_rollouts_are_rejected(env, tokenizer, problems):
    p = problems[(7, 0)]
    good = _rollout(tokenizer, PEER, 0, 0, _right(p))
    unknown = _rollout(tokenizer, PEER, 3, 0, _right(p), task_id=8)
    mine = _rollout(tokenizer, ME, 0, 0, _right(p))
    huge_id = Rollout(7, PEER, 0, 1, (1,), (len(tokenizer) + 5,), (0.0,), 0, "")
    empty = Rollout(7, PEER, 0, 2, (1,), (), (), 0, "")
    stats = RescoreStats()
    groups = rescore_rollouts(
        env,
        tokenizer,
        problems,
        [good, unknown, mine, huge_id, empty],
        local=False,
        exclude_miner=ME,
        stats=stats,
    )
    assert stats.accepted == 1 and stats.rejected == 4
    assert [len(g.completions) for g in groups] == [1]


def test_zero_advantage_groups_are_dropped_from_the_mix(env, tokenizer, problems):
    rollouts = []
    for (_, idx), p in problems.items():
        texts = [_right(p), _wrong(p)] if idx % 2 == 0 else [_right(p), _right(p)]
        rollouts += [_rollout(tokenizer, PEER, idx, g, t) for g, t in enumerate(texts)]
    groups = rescore_rollouts(env, tokenizer, problems, rollouts, local=False)
    assert len(groups) == 4
    kept = drop_zero_advantage(groups)
    assert sorted(g.key[1] for g in kept) == [0, 2]
    mixed = sapo_mix([], groups, num_local=4, num_external=4, rng=random.Random(0))
    assert sorted(g.key[1] for g in mixed) == [0, 2]
    assert all(g.has_signal() for g in mixed)


def test_mix_takes_at_most_i_local_and_j_external(env, tokenizer, problems):
    local, external = [], []
    for (_, idx), p in problems.items():
        local += [_rollout(tokenizer, ME, idx, g, t) for g, t in enumerate([_right(p), _wrong(p)])]
        external += [_rollout(tokenizer, PEER, idx, g, t) for g, t in enumerate([_wrong(p), _right(p)])]
    lg = rescore_rollouts(env, tokenizer, problems, local, local=True)
    eg = rescore_rollouts(env, tokenizer, problems, external, local=False, exclude_miner=ME)
    mixed = sapo_mix(lg, eg, num_local=1, num_external=3, rng=random.Random(1))
    assert sum(g.local for g in mixed) == 1 and sum(not g.local for g in mixed) == 3
    assert sapo_mix(lg, eg, 2, 0, random.Random(1)) == sapo_mix(lg, eg, 2, 0, random.Random(1))


def test_learn_step_changes_the_adapter_hash_and_records_metrics(env, tokenizer, problems):
    model, _ = tiny_model(0)
    model = new_adapter(model, rank=4, seed=0, adapter_name="m0")
    learner = MinerLearner(
        model,
        tokenizer,
        env,
        ME,
        SapoConfig(num_local=2, num_external=2, grpo=GRPOConfig(learning_rate=1e-2)),
        "m0",
    )
    p0, p1 = problems[(7, 0)], problems[(7, 1)]
    own = [_rollout(tokenizer, ME, 0, g, t) for g, t in enumerate([_right(p0), _wrong(p0)])]
    swarm = [
        _rollout(tokenizer, PEER, 1, g, t, claimed=REWARD_SCALE) for g, t in enumerate([_wrong(p1), "junk"])
    ]
    before = learner.adapter_hash()
    metrics = learner.learn(0, problems, own, swarm)
    assert learner.adapter_hash() != before
    assert metrics.groups_trained == 2
    assert metrics.reward == pytest.approx(0.6)  # own completions: 1.0 and 0.2
    assert metrics.correct == pytest.approx(0.5) and metrics.format == pytest.approx(1.0)
