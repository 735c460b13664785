"""bench/gpu_proof.py (run on a lent GPU by bench/gpu/proof.sh) end to end on the CPU with the tiny
model: every honest fp32 pair passes the tolerances in force, the bf16 table is filled, and the
report and results land where the device call collects them."""

from __future__ import annotations

import json

from bench.gpu_proof import Sizes, run
from verifier.params import AuditParams


def test_gpu_proof_runs_end_to_end_on_cpu(tmp_path):
    lines: list[str] = []
    results = run(
        "tiny", "cpu", Sizes(rollouts=4, tokens=8, cheat_rollouts=2), tmp_path / "proof", lines.append
    )
    fp32 = results["fp32"]
    # cpu-b8 and cpu-b1 generated, each verified at batch 8, batch 1 and through the math SDPA backend.
    assert {(r["generated"], r["verified"]) for r in fp32} == {
        (g, v) for g in ("cpu-b8", "cpu-b1") for v in ("cpu-b8", "cpu-b1", "cpu-b8-math")
    }
    assert all(r["tokens"] > 0 and r["rejected"] == 0 for r in fp32)
    assert max(r["max"] for r in fp32) < AuditParams().logprob_tol
    stats = [row["statistic"] for row in results["bf16"]["table"]]
    assert len(stats) == 4 and all(len(row["caught"]) == 3 for row in results["bf16"]["table"])
    saved = json.loads((tmp_path / "proof" / "results.json").read_text())
    assert saved["meta"]["device"] == "cpu" and len(saved["fp32"]) == len(fp32)
    report = (tmp_path / "proof" / "report.md").read_text()
    assert "fp32 honest deviation" in report and "bf16" in report and report in lines[-1]
