"""The SAPO bench: its arguments, and a whole (tiny) design run: seeds paired, CIs printed.

The statistics themselves are tested on synthetic data in test_bench_stats.py."""

from __future__ import annotations

import json

import pytest

from bench import sapo


def test_bad_arguments_are_sentences(capsys):
    with pytest.raises(SystemExit) as exc:
        sapo._parse(["--settings", "swarm=4"])
    assert exc.value.code == 2
    assert "name=I/J" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        sapo._parse(["--group-size", "1"])
    with pytest.raises(SystemExit):
        sapo._parse(["--train-dtype", "int8"])
    capsys.readouterr()
    # Each mistake is named before any job starts (not a traceback from a worker process).
    for argv, said in (
        (["--model", "/nonexistent"], "neither smollm2, tiny nor a model folder"),
        (["--env", "nope"], "not a known environment; known: basic_arithmetic"),
        (["--device", "cudaa"], "not a torch device"),
    ):
        with pytest.raises(SystemExit) as exc:
            sapo._parse(argv)
        assert exc.value.code == 2
        assert said in capsys.readouterr().err
    assert sapo._parse(["--model", "tiny", "--env", "chain_sum"]).env == "chain_sum"


def test_every_option_says_what_it_does(capsys):
    with pytest.raises(SystemExit):
        sapo._parse(["--help"])
    text = capsys.readouterr().out
    for option in ("--model", "--heldout", "--micro-batch", "--deadline-s", "--learning-rate", "--resume"):
        block = text.split(f"  {option}", 1)[1].split("\n  --", 1)[0]
        assert "(default:" in block and len(block.split()) > 4, block


@pytest.mark.slow
def test_tiny_design_runs_paired_and_reports_intervals(tmp_path, capsys):
    out = tmp_path / "sapo"
    args = [
        "--model", "tiny", "--rounds", "2", "--seeds", "2", "--miners", "2", "--group-size", "2",
        "--max-tokens", "6", "--heldout", "3", "--eval-every", "1", "--workers", "1",
        "--settings", "swarm=1/1,iso4=1/0", "--bootstrap", "200", "--out", str(out),
    ]  # fmt: skip
    rc = sapo.main(args)
    assert rc == 0
    data = json.loads((out / "results.json").read_text())
    assert sorted((j["setting"], j["seed"]) for j in data["jobs"]) == [
        ("iso4", 0), ("iso4", 1), ("swarm", 0), ("swarm", 1)
    ]  # fmt: skip
    for job in data["jobs"]:
        assert len(job["round_seconds"]) == 2
        assert [x for x, _ in job["heldout_curve"]] == [0, 1, 2]
        # Same seed, same base model and PRF draws: the before-training accuracy is shared.
    before = {(j["setting"], j["seed"]): j["heldout_curve"][0][1] for j in data["jobs"]}
    assert before[("swarm", 0)] == before[("iso4", 0)]
    report = (out / "report.txt").read_text()
    assert "swarm vs iso4 (equal generation compute, 2 seeds paired):" in report
    assert (out / "sapo.png").stat().st_size > 1000
    assert sorted(p.name for p in (out / "jobs").iterdir()) == [
        "iso4-seed0.json", "iso4-seed1.json", "swarm-seed0.json", "swarm-seed1.json"
    ]  # fmt: skip

    # --resume reuses every saved job of the same design: nothing is trained again.
    rc = sapo.main([*args, "--resume"])
    assert rc == 0
    again = json.loads((out / "results.json").read_text())
    assert again["resumed"] == 4 and again["jobs"] == data["jobs"]
    assert "4 of 4 jobs resumed" in (out / "report.txt").read_text()


def test_a_saved_job_of_another_design_or_cut_short_is_not_resumed(tmp_path):
    cfg = sapo.BenchConfig(rounds=2, out=str(tmp_path), settings={"swarm": (4, 4)})
    job = {"setting": "swarm", "seed": 0, "round_seconds": [1.0, 1.0]}
    sapo.save_job(cfg, job)
    assert sapo.saved_job(cfg, "swarm", 0) == job
    assert sapo.saved_job(cfg, "swarm", 1) is None  # never run
    other = sapo.BenchConfig(rounds=2, out=str(tmp_path), settings={"swarm": (4, 4)}, learning_rate=1e-4)
    assert sapo.saved_job(other, "swarm", 0) is None  # another learning rate
    longer = sapo.BenchConfig(rounds=3, out=str(tmp_path), settings={"swarm": (4, 4)})
    assert sapo.saved_job(longer, "swarm", 0) is None  # another design (rounds)
    sapo.save_job(cfg, {**job, "round_seconds": [1.0]})
    assert sapo.saved_job(cfg, "swarm", 0) is None  # cut short by a deadline
    (tmp_path / "jobs" / "swarm-seed0.json").write_text("{not json")
    assert sapo.saved_job(cfg, "swarm", 0) is None


def test_untrained_heldout_decodes_one_adapter_and_equals_decoding_all():
    """Before training every LoRA adapter is the base model (B = 0), so the bench decodes
    one miner's held-out rows and copies the figure; it must equal decoding every miner."""
    import torch

    from node.envs import get_env
    from verifier.models import load_model, new_adapter

    torch.manual_seed(0)
    model, tokenizer = load_model("tiny")
    env = get_env("basic_arithmetic")
    for k in range(3):
        model = new_adapter(model, rank=4, seed=k, adapter_name=f"m{k}")
    cfg = sapo.BenchConfig(model="tiny", heldout=6, max_tokens=4)
    addresses = [sapo._miner_address(k) for k in range(3)]
    full = sapo.heldout_accuracies(model, tokenizer, env, cfg, 0, addresses)
    once = sapo.heldout_accuracies(model, tokenizer, env, cfg, 0, addresses, untrained=True)
    assert once == full and len(once) == 3
