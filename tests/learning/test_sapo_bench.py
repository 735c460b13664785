"""The SAPO experiment's statistics and a whole (tiny) design run: seeds paired, CIs printed."""

from __future__ import annotations

import json

import pytest

from bench import sapo


def test_bootstrap_ci_brackets_the_mean_and_narrows_with_more_units():
    few = [0.1, 0.3, 0.2, 0.4]
    lo, hi = sapo.bootstrap_ci(few, reps=2000)
    assert lo <= sapo.mean(few) <= hi
    many = few * 25
    lo2, hi2 = sapo.bootstrap_ci(many, reps=2000)
    assert hi2 - lo2 < hi - lo


def test_bootstrap_ci_of_one_unit_is_undefined():
    lo, hi = sapo.bootstrap_ci([0.5])
    assert lo != lo and hi != hi  # NaN: one seed gives no interval


def _job(setting, seed, rewards, heldout):
    history = [[{"reward": r} for r in rewards]]
    return {
        "setting": setting,
        "seed": seed,
        "history": history,
        "heldout_curve": [(0, [0.1]), (len(rewards), [heldout])],
    }


def test_paired_differences_pair_by_seed_only():
    jobs = [
        _job("swarm", 0, [0.5, 0.5], 0.4),
        _job("iso4", 0, [0.25, 0.25], 0.3),
        _job("swarm", 1, [0.3, 0.3], 0.2),  # seed 1 has no control: left out
    ]
    d = sapo.paired_differences(jobs, "swarm", "iso4")
    assert d["seeds"] == [0]
    assert d["cumulative_rel"] == [pytest.approx(1.0)]
    assert d["heldout_abs"] == [pytest.approx(0.1)]


def test_bad_arguments_are_sentences(capsys):
    with pytest.raises(SystemExit) as exc:
        sapo._parse(["--settings", "swarm=4"])
    assert exc.value.code == 2
    assert "name=I/J" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        sapo._parse(["--group-size", "1"])
    with pytest.raises(SystemExit):
        sapo._parse(["--train-dtype", "int8"])


@pytest.mark.slow
def test_tiny_design_runs_paired_and_reports_intervals(tmp_path, capsys):
    out = tmp_path / "sapo"
    rc = sapo.main(
        [
            "--model", "tiny", "--rounds", "2", "--seeds", "2", "--miners", "2", "--group-size", "2",
            "--max-tokens", "6", "--heldout", "3", "--eval-every", "1", "--workers", "1",
            "--settings", "swarm=1/1,iso4=1/0", "--bootstrap", "200", "--out", str(out),
        ]
    )  # fmt: skip
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
    assert "swarm vs iso4 (equal generation compute, 2 seeds)" in report
    assert (out / "sapo.png").stat().st_size > 1000
