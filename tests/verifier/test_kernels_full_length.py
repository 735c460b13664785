"""`rollproof bench honest --kernels --full-length`: rollouts that run to max_tokens past their EOS
are still the prover's own honest rollouts (same tokens and logprobs up to where EOS would have
stopped them, every position within the tolerance when verified), so the bench measures long
contexts; a tampered logprob among them is still seen."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from bench.kernels import FullLengthTokenizer, kernels_task, token_stats
from bench.workload import BENCH_MINER, BasicArithmeticEnv
from verifier.params import AuditParams
from verifier.sampler import pad_token_id, prove_rollouts


class _EarlyEos:
    """The tiny tokenizer with a common token as EOS, so honest rollouts stop early."""

    def __init__(self, tokenizer, eos: int) -> None:
        self._tokenizer, self.eos_token_id = tokenizer, eos
        self.pad_token_id = pad_token_id(tokenizer)

    def __getattr__(self, name: str):
        return getattr(self._tokenizer, name)


def test_full_length_rollouts_extend_the_honest_ones_and_stay_within_the_tolerance(tiny):
    model, tokenizer = tiny
    task, env = kernels_task(48, 8), BasicArithmeticEnv()
    plain = prove_rollouts(model, tokenizer, env, task, BENCH_MINER)
    eos = Counter(t for r in plain for t in r.tokens[1:]).most_common(1)[0][0]
    early = _EarlyEos(tokenizer, eos)
    stopped = prove_rollouts(model, early, env, task, BENCH_MINER)
    full = prove_rollouts(model, FullLengthTokenizer(early), env, task, BENCH_MINER)
    assert any(len(r.tokens) < task.max_tokens for r in stopped), "the EOS must stop some rollout early"
    assert all(len(r.tokens) == task.max_tokens for r in full)
    for short, long in zip(stopped, full, strict=True):
        n = len(short.tokens)
        assert long.tokens[:n] == short.tokens and long.logprobs[:n] == short.logprobs

    stats = token_stats(model, task, full, 8, pad_token_id(tokenizer))
    assert sum(len(s.diffs) for s in stats) == 8 * task.max_tokens
    assert max(max(s.diffs) for s in stats) <= AuditParams().logprob_tol
    assert sum(s.flips for s in stats) == 0

    last = task.max_tokens - 1  # a position only a full-length rollout has
    logprobs = list(full[0].logprobs)
    logprobs[last] += 10 * AuditParams().logprob_tol
    tampered = [replace(full[0], logprobs=tuple(logprobs)), *full[1:]]
    seen = token_stats(model, task, tampered, 8, pad_token_id(tokenizer))[0]
    assert seen.diffs[last] > AuditParams().logprob_tol
