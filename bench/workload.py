"""The verify benchmarks' workload: a small arithmetic environment, the bench's task, and an audit
of every rollout one by one (bench/verify.py, bench/kernels.py, bench/honest.py and the verifier
tests use them; the verifier may not import node/, so the bench brings its own environment)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from verifier.challenge import get_challenge
from verifier.commitments import MerkleTree, leaf_hash
from verifier.env import Environment, Problem
from verifier.params import AuditParams
from verifier.prf import H
from verifier.rollout import Rollout, TaskSpec
from verifier.sampler import task_problems
from verifier.verify import Prefill, Verdict, verify_rollouts

BENCH_MINER = "0x" + "11" * 20


class BasicArithmeticEnv:
    """reasoning-gym basic_arithmetic; reward 1 when the last number in the completion is the answer."""

    name = "basic_arithmetic"

    def generate(self, seed: bytes, n: int, difficulty: int) -> list[Problem]:
        import reasoning_gym

        digits = max(1, difficulty)
        ds = reasoning_gym.create_dataset(
            "basic_arithmetic",
            seed=int.from_bytes(seed[:8], "big"),
            size=n,
            min_terms=2,
            max_terms=2,
            min_digits=digits,
            max_digits=digits,
        )
        return [Problem(i, str(x["question"]), str(x["answer"])) for i, x in enumerate(ds)]

    def messages(self, problem: Problem) -> list[dict[str, str]]:
        return [{"role": "user", "content": problem.question + " Answer with the number only."}]

    def score(self, problem: Problem, completion: str) -> float:
        numbers = re.findall(r"-?\d+(?:\.\d+)?", completion)
        return 1.0 if numbers and numbers[-1] == problem.answer else 0.0


def bench_task(
    task_id: int,
    max_tokens: int,
    P: int,
    G: int,
    temperature_milli: int = 700,
    audit: AuditParams | None = None,
) -> TaskSpec:
    return TaskSpec(
        task_id, 1, P, G, max_tokens, temperature_milli, H("bench-seed", task_id), audit or AuditParams()
    )


def audit_all(
    model,
    tokenizer,
    env: Environment,
    task: TaskSpec,
    rollouts: Sequence[Rollout],
    challenge_seed: bytes = b"bench",
    prefill: Prefill = Prefill(),
) -> list[Verdict]:
    """Audit every rollout individually (one Verdict each) under a real tree and challenge positions
    (the task's k and tolerances: `task.audit`)."""
    tree = MerkleTree.of_rollouts(rollouts)
    problems = task_problems(env, task)
    verdicts = []
    challenges = {}
    for r in rollouts:
        if r.miner not in challenges:
            total = task.total_rollouts
            every = replace(task.audit, rollouts=total)
            full = get_challenge(H("bench-challenge", challenge_seed), task.task_id, r.miner, total, every)
            challenges[r.miner] = (full, {item.index: item for item in full.items})
        full, items = challenges[r.miner]
        ch = replace(full, items=(items[task.rollout_index(r.p, r.g)],))
        proof = [tree.proof(leaf_hash(r))]
        verdicts.append(
            verify_rollouts(model, tokenizer, env, task, tree.root, [r], proof, ch, prefill, problems)
        )
    return verdicts
