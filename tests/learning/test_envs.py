"""Environments: deterministic problems, robust scorers, registry and ids."""

import pytest

from node.envs import ENV_NAMES, env_id, get_env, get_env_by_id
from node.envs.reasoning import CORRECTNESS_WEIGHT, FORMAT_WEIGHT, answer_blocks, rg_seed


@pytest.mark.parametrize("name", ENV_NAMES)
def test_same_seed_same_problems_and_different_seed_different(name):
    env = get_env(name)
    first = env.generate(b"\x01" * 32, 6, 0)
    again = get_env(name).generate(b"\x01" * 32, 6, 0)
    other = env.generate(b"\x02" * 32, 6, 0)
    assert [(p.index, p.question, p.answer) for p in first] == [
        (p.index, p.question, p.answer) for p in again
    ]
    assert [p.question for p in first] != [p.question for p in other]
    assert [p.index for p in first] == list(range(6))


def test_prefix_property_more_problems_extend_the_list():
    env = get_env("chain_sum")
    assert env.generate(b"s", 3, 1) == env.generate(b"s", 5, 1)[:3]


def test_difficulty_changes_the_problems():
    env = get_env("basic_arithmetic")
    easy = env.generate(b"d", 20, 0)
    hard = env.generate(b"d", 20, 5)
    assert max(len(p.question) for p in hard) > max(len(p.question) for p in easy)
    for p in easy:  # level 0: two one-digit (0..10) terms, + or -
        assert len(p.question.removeprefix("Calculate ").rstrip(".").split()) == 3


def test_rg_seed_is_a_pinned_function_of_the_bytes():
    # Pinned: changing the mapping would change every task's problems on the network.
    assert rg_seed(b"") == int.from_bytes(
        __import__("hashlib").sha256(b"rollproof.env.seed.v1").digest()[:8], "big"
    )
    assert rg_seed(b"a") != rg_seed(b"b")


@pytest.mark.parametrize("bad", [(b"x", 0, 0), (b"x", 10**6, 0), (b"x", 2, -1), (b"x", 2, 99), ("str", 2, 0)])
def test_generate_rejects_bad_arguments_with_a_sentence(bad):
    with pytest.raises(ValueError, match=r"\.$"):
        get_env("basic_arithmetic").generate(*bad)


@pytest.mark.parametrize("name", ENV_NAMES)
def test_messages_are_system_fewshot_then_question(name):
    env = get_env(name)
    problem = env.generate(b"m", 1, 0)[0]
    msgs = env.messages(problem)
    assert msgs[0]["role"] == "system" and "<answer>" in msgs[0]["content"]
    assert msgs[-1] == {"role": "user", "content": problem.question}
    assert [m["role"] for m in msgs[1:-1]] == ["user", "assistant"] * ((len(msgs) - 2) // 2)


def test_score_formula():
    env = get_env("basic_arithmetic")
    problem = env.generate(b"f", 1, 0)[0]
    ans = problem.answer
    assert env.score(problem, f"so <answer>{ans}</answer>") == pytest.approx(1.0)
    assert env.score(problem, f"<answer> {ans}. </answer>") == pytest.approx(1.0)
    assert env.score(problem, f"<answer>{int(ans) + 1}</answer>") == pytest.approx(FORMAT_WEIGHT)
    assert env.score(problem, f"the answer is {ans}") == 0.0
    # Two blocks: the first one is graded, and the format reward is lost.
    assert env.score(problem, f"<answer>{ans}</answer><answer>{ans}</answer>") == pytest.approx(
        CORRECTNESS_WEIGHT
    )
    assert env.score(problem, f"<answer>x</answer><answer>{ans}</answer>") == 0.0
    details = env.score_details(problem, f"<answer>{ans}</answer>")
    assert details == {"reward": pytest.approx(1.0), "correct": 1.0, "format": 1.0}


def test_numbers_with_signs_commas_and_decimals_compare_as_numbers():
    env = get_env("basic_arithmetic")
    from verifier.env import Problem

    problem = Problem(0, "q", "1000")
    assert env.score(problem, "<answer>1,000</answer>") == pytest.approx(1.0)
    assert env.score(problem, "<answer>+1000.0</answer>") == pytest.approx(1.0)
    assert env.score(problem, "<answer>1e3</answer>") == pytest.approx(FORMAT_WEIGHT)  # not a plain number


JUNK = [
    "",
    " ",
    "<answer>",
    "</answer><answer>",
    "<answer></answer>",
    "<answer>" * 100_000,
    "<answer>" + "9" * 1_000_000 + "</answer>",
    "x" * 2_000_000,
    "<answer>NaN</answer>",
    "<answer>sNaN</answer>",
    "<answer>Infinity</answer>",
    "<answer>٣</answer>",  # Arabic-Indic digit three
    "<answer>7\u0000</answer>",
    "\ud800<answer>\udfff</answer>",  # lone surrogates
    "🙂<answer>🙂</answer>",
    None,
    b"<answer>7</answer>",
    12,
    ["<answer>7</answer>"],
]


@pytest.mark.parametrize("name", ENV_NAMES)
@pytest.mark.parametrize("junk", JUNK, ids=range(len(JUNK)))
def test_scorer_never_raises_and_stays_in_range(name, junk):
    env = get_env(name)
    problem = env.generate(b"j", 1, 0)[0]
    reward = env.score(problem, junk)
    assert isinstance(reward, float) and 0.0 <= reward <= 1.0
    assert set(env.score_details(problem, junk)) == {"reward", "correct", "format"}


def test_unicode_digits_are_not_accepted_as_the_answer():
    from verifier.env import Problem

    assert get_env("chain_sum").score(Problem(0, "q", "3"), "<answer>٣</answer>") == pytest.approx(
        FORMAT_WEIGHT
    )


def test_answer_blocks_scan_is_linear_and_exact():
    assert answer_blocks("a<answer>1</answer>b<answer>2</answer><answer>3") == ["1", "2"]
    assert answer_blocks("<answer>" * 50_000) == []


def test_registry_and_env_id():
    assert set(ENV_NAMES) >= {"basic_arithmetic", "chain_sum", "gsm_symbolic"}
    # keccak256("basic_arithmetic"), as Solidity computes keccak256(bytes("basic_arithmetic")).
    assert (
        env_id("basic_arithmetic").hex() == "86a9bf0c2ba480a7a4e044b154565ec1a925cdbc9d6119ae3a337e4a494def3a"
    )
    assert get_env_by_id(env_id("chain_sum")).name == "chain_sum"
    with pytest.raises(ValueError, match="Unknown environment"):
        get_env("nope")
    with pytest.raises(ValueError, match="No known environment"):
        get_env_by_id(b"\x00" * 32)
