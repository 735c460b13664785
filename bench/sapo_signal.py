"""Where does a model get a learning signal? (issue 13, item 4)

GRPO learns only from groups whose rewards disagree (a group where every completion scored the
same has zero advantage and is dropped by SAPO's mix). For each environment and difficulty this
samples `--problems` problems with G completions each (the prover's PRF draws, batched: node/
train/batched.py) and reports:

- mean reward and mean correctness;
- signal share: the share of groups whose rewards are not all equal (what GRPO can use);
- correctness-split share: the share of groups with at least one right and one wrong answer
  (the signal that is about the task, not about formatting).

The band of mean correctness where the split share is highest is what the proposer's
curriculum (`success_band` in node/roles/proposer.py) should hold tasks in.

    nice -n 10 .venv/bin/python -m bench.sapo_signal --model smollm2 \
        --envs basic_arithmetic,chain_sum --difficulties 0,1,2,3 --problems 32 --group-size 4
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def measure(model, tokenizer, env, difficulty: int, problems: int, group_size: int, max_tokens: int,
            temperature: float, batch_size: int = 64) -> dict:  # fmt: skip
    """Signal statistics of one environment and difficulty (one batched decode)."""
    from node.train.batched import Row, decode_in_chunks
    from node.train.heldout import problem_score
    from verifier.prf import sampler_us
    from verifier.sampler import chat_prompt_ids, eos_token_ids, pad_token_id

    seed = hashlib.sha256(f"rollproof.bench.signal/{env.name}/{difficulty}".encode()).digest()
    items = env.generate(seed, problems, difficulty)
    rows = []
    for p, problem in enumerate(items):
        prompt = tuple(chat_prompt_ids(tokenizer, env.messages(problem)))
        for g in range(group_size):
            rows.append(Row(prompt, None, tuple(sampler_us(seed, 0, "0x" + "00" * 20, p, g, max_tokens))))
    done = decode_in_chunks(
        model,
        rows,
        temperature,
        max_tokens,
        eos_token_ids(tokenizer),
        pad_token_id(tokenizer),
        chunk=batch_size,
    )
    rewards, correct = [], []
    for i, c in enumerate(done):
        problem = items[i // group_size]
        text = tokenizer.decode(c.tokens, skip_special_tokens=True)
        rewards.append(float(env.score(problem, text)))
        correct.append(problem_score(env, problem, text))
    groups = [range(p * group_size, (p + 1) * group_size) for p in range(problems)]
    signal = sum(1 for g in groups if max(rewards[i] for i in g) - min(rewards[i] for i in g) > 1e-9)
    split = sum(1 for g in groups if 0 < sum(correct[i] > 0.5 for i in g) < group_size)
    return {
        "env": env.name,
        "difficulty": difficulty,
        "problems": problems,
        "group_size": group_size,
        "mean_reward": sum(rewards) / len(rewards),
        "mean_correct": sum(correct) / len(correct),
        "signal_share": signal / problems,
        "split_share": split / problems,
    }


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="smollm2")
    p.add_argument("--envs", default="basic_arithmetic,chain_sum")
    p.add_argument("--difficulties", default="0,1,2,3")
    p.add_argument("--problems", type=int, default=32)
    p.add_argument("--group-size", type=int, default=4)
    p.add_argument("--max-tokens", type=int, default=24)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="bench/out/sapo_signal")
    a = p.parse_args(argv)
    try:
        difficulties = [int(x) for x in a.difficulties.split(",")]
    except ValueError:
        p.error(f"--difficulties takes integers separated by commas, not {a.difficulties!r}")
    if a.problems < 1 or a.group_size < 2 or a.max_tokens < 1:
        p.error("--problems and --max-tokens must be at least 1, --group-size at least 2")
    import torch

    from node.model import load_model_spec
    from node.tasks.view import get_env

    torch.set_num_threads(a.threads)
    model, tokenizer = load_model_spec(a.model)
    model.eval()
    started, load = time.time(), [os.getloadavg()[0]]
    results = []
    print("env               difficulty  mean reward  mean correct  signal share  correct-split share")
    for name in a.envs.split(","):
        env = get_env(name)
        for d in difficulties:
            with torch.no_grad():
                r = measure(model, tokenizer, env, d, a.problems, a.group_size, a.max_tokens, a.temperature)
            load.append(os.getloadavg()[0])
            results.append(r)
            print(
                f"{name:17s} {d:10d}  {r['mean_reward']:11.3f}  {r['mean_correct']:12.3f}  "
                f"{r['signal_share']:12.3f}  {r['split_share']:19.3f}",
                flush=True,
            )
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"args": vars(a), "seconds": time.time() - started, "load_average_1min": load}
    (out / "signal.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    print(
        f"load average (1 min) during the run: {min(load):.1f}-{max(load):.1f}; results: {out / 'signal.json'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
