"""Held-out accuracy of a policy: a fixed problem set, greedy completions, batched.

Used where a user should see learning without a benchmark run: the devnet summary reports it for
every honest miner before training (the base model: a fresh adapter has B = 0) and after (its
newest own adapter). The set is fixed by a constant seed, so every miner and every run of the
same environment and difficulty is scored on the same problems; greedy decoding removes the
sampling noise of one draw per problem. Score = the environment's `correct` part when it has
one (reasoning-gym tasks), else its reward (the devnet's letters environment).
"""

from __future__ import annotations

from collections.abc import Sequence

HELDOUT_SEED = b"rollproof.heldout.v1"


def heldout_problems(env, n: int, difficulty: int) -> list:
    """The fixed held-out problems of an environment and difficulty."""
    if not 1 <= n <= 10_000:
        raise ValueError(f"the held-out set needs 1 to 10,000 problems, not {n}")
    return env.generate(HELDOUT_SEED, n, difficulty)


def problem_score(env, problem, text: str) -> float:
    details = getattr(env, "score_details", None)
    if details is not None:
        return float(details(problem, text)["correct"])
    return float(env.score(problem, text))


def heldout_accuracy(
    model,
    tokenizer,
    env,
    problems: Sequence,
    max_tokens: int,
    adapters: Sequence[str | None] = (None,),
    batch_size: int = 64,
) -> list[float]:
    """Per adapter name (None: the model as it is): mean score of greedy completions."""
    import torch

    from node.train.batched import Row, decode_in_chunks
    from verifier.sampler import chat_prompt_ids, eos_token_ids, pad_token_id

    prompts = [tuple(chat_prompt_ids(tokenizer, env.messages(p))) for p in problems]
    rows = [Row(prompt, adapter) for adapter in adapters for prompt in prompts]
    model.eval()
    with torch.no_grad():
        done = decode_in_chunks(
            model, rows, 1.0, max_tokens, eos_token_ids(tokenizer), pad_token_id(tokenizer), chunk=batch_size
        )
    scores = [
        problem_score(env, problems[i % len(problems)], tokenizer.decode(c.tokens, skip_special_tokens=True))
        for i, c in enumerate(done)
    ]
    n = len(problems)
    return [sum(scores[k * n : (k + 1) * n]) / n for k in range(len(adapters))]
