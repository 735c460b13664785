"""bench/stats.py on synthetic data with known answers (never on wall time)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bench import stats


def test_t_quantiles_match_the_table():
    # Student t table, two-sided 95 %: df 1, 4, 9, 29; and the normal limit.
    for df, value in ((1, 12.7062), (4, 2.7764), (9, 2.2622), (29, 2.0452), (10_000, 1.9602)):
        assert stats.t_quantile(0.975, df) == pytest.approx(value, abs=1e-4)
    assert stats.t_cdf(0.0, 5) == pytest.approx(0.5)
    assert stats.normal_quantile(0.975) == pytest.approx(1.959964, abs=1e-6)


def test_t_interval_is_the_textbook_formula():
    x = [0.12, -0.03, 0.08, 0.20, 0.01]
    ci = stats.t_interval(x)
    m, sd = sum(x) / 5, math.sqrt(sum((v - sum(x) / 5) ** 2 for v in x) / 4)
    half = 2.776445 * sd / math.sqrt(5)
    assert (ci.mean, ci.low, ci.high, ci.sd) == pytest.approx((m, m - half, m + half, sd), abs=1e-6)


def test_bootstrap_matches_the_t_interval_with_many_normal_units():
    x = np.random.default_rng(7).normal(0.2, 1.0, size=400)
    t = stats.t_interval(x)
    b = stats.bootstrap_interval(x, reps=20_000, seed=3)
    half = (t.high - t.low) / 2
    assert b.mean == pytest.approx(t.mean)
    assert abs(b.low - t.low) < 0.05 * half and abs(b.high - t.high) < 0.05 * half
    # Seeded: the same interval twice.
    assert stats.bootstrap_interval(x, reps=2000, seed=1) == stats.bootstrap_interval(x, reps=2000, seed=1)


def test_coverage_with_five_seeds_t_holds_and_percentile_bootstrap_falls_short():
    """Why the report leads with the t-interval when there are few seeds."""
    rng = np.random.default_rng(11)
    sims, true = 1500, 0.3
    t_hits = boot_hits = 0
    for i in range(sims):
        x = rng.normal(true, 1.0, size=5)
        t = stats.t_interval(x)
        b = stats.bootstrap_interval(x, reps=1000, seed=i)
        t_hits += t.low <= true <= t.high
        boot_hits += b.low <= true <= b.high
    # Binomial SE of a coverage near 0.95 over 1500 runs is 0.0056: a 3.5 SE window.
    assert 0.93 <= t_hits / sims <= 0.97
    assert boot_hits / sims < 0.90


def test_one_unit_gives_no_interval_and_none_is_an_error():
    for ci in (stats.t_interval([0.5]), stats.bootstrap_interval([0.5])):
        assert ci.mean == 0.5 and math.isnan(ci.low) and math.isnan(ci.high)
    with pytest.raises(ValueError):
        stats.t_interval([])


def test_power_matches_known_values_and_mdd_inverts_it():
    # G*Power, one-sample / paired t, two-sided alpha 0.05, dz = 1, n = 10: power 0.8031.
    assert stats.paired_power(10, 1.0, 1.0) == pytest.approx(0.8031, abs=5e-4)
    assert stats.paired_power(5, 0.1, 0.0) == pytest.approx(0.05, abs=1e-6)
    # Large n: the normal approximation (z_.975 + z_.8) sd / sqrt(n).
    assert stats.minimal_detectable_difference(400, 1.0) == pytest.approx(2.8016 / 20, rel=0.01)
    mdd = stats.minimal_detectable_difference(5, 0.07)
    assert stats.paired_power(5, 0.07, mdd) == pytest.approx(0.8, abs=1e-3)
    assert stats.minimal_detectable_difference(8, 0.07) < mdd  # more seeds, smaller detectable effect


def test_power_by_simulation():
    rng = np.random.default_rng(5)
    n, sd, effect, sims = 6, 1.0, 1.2, 4000
    crit = stats.t_quantile(0.975, n - 1)
    x = rng.normal(effect, sd, size=(sims, n))
    t = x.mean(1) / (x.std(1, ddof=1) / math.sqrt(n))
    simulated = float((np.abs(t) > crit).mean())
    assert stats.paired_power(n, sd, effect) == pytest.approx(simulated, abs=0.025)  # 3.5 SE


def test_binomial_standard_errors_by_simulation():
    rng = np.random.default_rng(2)
    acc = rng.binomial(500, 0.4, size=20_000) / 500
    assert acc.std() == pytest.approx(stats.binomial_se(0.4, 500), rel=0.03)
    # Paired: the same 500 problems, 30 % of them right in exactly one setting, half each way.
    kinds = rng.choice(3, p=[0.7, 0.15, 0.15], size=(20_000, 500))  # 0 agree, 1 only A, 2 only B
    diff = ((kinds == 1).sum(1) - (kinds == 2).sum(1)) / 500
    assert diff.std() == pytest.approx(stats.paired_binomial_se(0.3, 500), rel=0.03)
    assert stats.heldout_seed_sd(500, 4, 0.3, 0.0) == pytest.approx(stats.paired_binomial_se(0.3, 500) / 2)


def _job(setting, seed, rewards, heldout):
    return {
        "setting": setting,
        "seed": seed,
        "history": [[{"reward": r} for r in rewards]],
        "heldout_curve": [(0, [0.1]), (len(rewards), [heldout])],
    }


def test_differences_pair_by_seed_only():
    jobs = [
        _job("swarm", 0, [0.5, 0.5], 0.4),
        _job("iso4", 0, [0.25, 0.25], 0.3),
        _job("swarm", 1, [0.3, 0.3], 0.2),  # seed 1 has no control: left out
    ]
    d = stats.paired_differences(jobs, "swarm", "iso4")
    assert d["seeds"] == [0]
    assert d["cumulative_rel"] == [pytest.approx(1.0)]
    assert d["heldout_abs"] == [pytest.approx(0.1)]
    assert stats.paired({0: 1.0, 2: 3.0}, {2: 1.0, 5: 0.0}) == ([2], [2.0])


def test_comparison_lines_report_both_intervals():
    jobs = []
    for seed, (a, b) in enumerate([(0.6, 0.5), (0.55, 0.5), (0.7, 0.52)]):
        jobs += [_job("swarm", seed, [a], a), _job("iso4", seed, [b], b)]
    lines = stats.comparison_lines(jobs, [("swarm", "iso4", "equal generation compute")], reps=500)
    assert lines[0] == "swarm vs iso4 (equal generation compute, 3 seeds paired):"
    assert "(95 % t)" in lines[1] and "(95 % bootstrap)" in lines[1] and "cumulative reward" in lines[1]
    assert lines[2].startswith("  held-out accuracy: +0.110 [")


def test_command_line_errors_are_sentences(tmp_path, capsys):
    assert stats.main([str(tmp_path / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert stats.main([str(tmp_path)]) == 2
    assert "holds no job files" in capsys.readouterr().err
    assert stats.main([]) == 2
    assert stats.main(["--help"]) == 0
    assert "OUT/jobs" in capsys.readouterr().out


def test_a_jobs_folder_reads_like_results_json(tmp_path, capsys):
    """A run's jobs/ folder (the jobs finished so far, one file each) gives the same report as its
    results.json; one seed prints the difference and says why there is no interval."""
    jobs = []
    for seed, (a, b) in enumerate([(0.6, 0.5), (0.55, 0.5), (0.7, 0.52)]):
        jobs += [_job("swarm", seed, [a], a), _job("iso4", seed, [b], b)]
    (tmp_path / "jobs").mkdir()
    for j in jobs:
        (tmp_path / "jobs" / f"{j['setting']}-seed{j['seed']}.json").write_text(
            json.dumps({"key": {}, "job": j})
        )
    (tmp_path / "results.json").write_text(json.dumps({"jobs": jobs}))
    assert stats.main([str(tmp_path / "results.json")]) == 0
    from_results = capsys.readouterr().out
    assert stats.main([str(tmp_path / "jobs")]) == 0
    assert capsys.readouterr().out == from_results
    assert "swarm vs iso4 (equal generation compute, 3 seeds paired)" in from_results
    lines = stats.comparison_lines(jobs[:2], [("swarm", "iso4", "equal generation compute")])
    assert lines[1] == "  cumulative reward: +20.0 % (one seed: an interval needs two or more)"
    assert lines[2] == "  held-out accuracy: +0.100 (one seed: an interval needs two or more)"


def test_pairs_stopped_by_a_deadline_compare_equal_training():
    t = _job("swarm", 0, [0.5, 0.5, 0.9], 0.9)
    t["heldout_curve"] = [(0, [0.1]), (2, [0.4]), (3, [0.9])]
    c = _job("iso4", 0, [0.25, 0.25], 0.3)
    c["heldout_curve"] = [(0, [0.1]), (2, [0.3])]
    d = stats.paired_differences([t, c], "swarm", "iso4")
    assert d["rounds"] == [2]
    assert d["cumulative_rel"] == [pytest.approx(1.0)]  # 1.0 vs 0.5 over the 2 common rounds
    assert d["heldout_abs"] == [pytest.approx(0.1)]  # at round 2, not swarm's round 3
