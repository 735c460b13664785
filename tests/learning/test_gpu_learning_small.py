"""bench/gpu_learning.sh --small: the GPU design's whole pipeline, end to end on the CPU."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_small_design_writes_paired_intervals_bands_and_power(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        ["bash", str(ROOT / "bench" / "gpu_learning.sh"), "--small"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = tmp_path / "sapo"
    data = json.loads((out / "results.json").read_text())
    assert sorted((j["setting"], j["seed"]) for j in data["jobs"]) == [
        (name, seed) for name in ("iso4", "iso8", "swarm") for seed in (0, 1)
    ]
    for job in data["jobs"]:
        assert len(job["round_seconds"]) == 3
        assert [x for x, _ in job["heldout_curve"]] == [0, 1, 2, 3]
    # Paired by seed: every setting of a seed starts from the same base and held-out problems.
    before = {(j["setting"], j["seed"]): j["heldout_curve"][0][1] for j in data["jobs"]}
    assert before[("swarm", 1)] == before[("iso4", 1)] == before[("iso8", 1)]
    report = (out / "report.txt").read_text()
    assert "swarm vs iso8 (equal problems per step, 2 seeds paired):" in report
    assert "swarm vs iso4 (equal generation compute, 2 seeds paired):" in report
    assert "(95 % t)" in report and "(95 % bootstrap)" in report
    assert "job-rounds/h" in report and "load average (1 min) during the run" in report
    assert (out / "sapo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "minimal detectable difference" in (out / "power.txt").read_text()
