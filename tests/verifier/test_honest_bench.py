"""bench/honest.py with the tiny model: honest rollouts audited at every position under the
tolerances in force are all accepted, and the deviations the PROTOCOL quotes are printed."""

from __future__ import annotations

import re

from bench.honest import run_honest_bench


def test_honest_bench_accepts_honest_rollouts_and_reports_the_deviation():
    lines: list[str] = []
    assert run_honest_bench("tiny", rollouts=16, tokens=8, per_task=8, out=lines.append) == 0
    final = lines[-1]
    assert "0 false rejections in 16 rollouts" in final
    worst = float(re.search(r"max \|Δlogprob\| ([0-9.e+-]+)", final).group(1))
    p99 = float(re.search(r"p99 ([0-9.e+-]+)", final).group(1))
    assert 0 <= p99 <= worst < 1.5e-4  # recorded, and inside the tolerance in force
    assert "max edge distance" in final and "load average" in final
