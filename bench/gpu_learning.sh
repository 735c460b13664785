#!/usr/bin/env bash
# The SAPO design of docs/LEARNING.md §5 in one command; results under $OUT.
#
#   bench/gpu_learning.sh           the full design on CUDA: settings iso8=8/0, swarm=4/4, iso4=4/0;
#                                   5 seeds paired by seed; 100 rounds; G = 4; 4 miners; 500
#                                   held-out problems (greedy) every 20 rounds; bf16 training.
#                                   Meant for one large GPU (bench/gpu/sapo_design.sh stages the
#                                   model and wheels on the device machine and calls this).
#   bench/gpu_learning.sh --small   the same pipeline end to end on the CPU: tiny model, 2 seeds,
#                                   3 rounds (tests/learning/test_gpu_learning_small.py runs it).
#
# Writes $OUT/sapo/{results.json,report.txt,sapo.png}: per-setting table, paired differences with
# 95 % t and bootstrap intervals, the rounds/h with the load average beside it, and the curves
# with bands across seeds; then the design's power table ($OUT/sapo/power.txt).
# Environment: OUT (default bench/out/gpu_learning), MODEL (default smollm2), PYTHON,
# SEEDS, ROUNDS, WORKERS, DEADLINE_S (a job starts no round after it; default 420 s, so the
# whole run, held-out evaluations included, ends inside a 10-minute device call).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench/out/gpu_learning}/sapo"
py="${PYTHON:-}"
if [ -z "$py" ]; then
    if [ -x .venv/bin/python ]; then py=.venv/bin/python; else py=python3; fi
fi
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
case "${1:-}" in
--small)
    args=(--model tiny --device cpu --seeds 2 --rounds 3 --miners 2 --group-size 2 --max-tokens 6
        --heldout 8 --eval-every 1 --workers 1 --threads 1 --bootstrap 1000
        --settings iso8=2/0,swarm=1/1,iso4=1/0)
    ;;
"")
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv
    args=(--model "${MODEL:-smollm2}" --device cuda --train-dtype bfloat16 --seeds "${SEEDS:-5}"
        --rounds "${ROUNDS:-100}" --group-size 4 --miners 4 --heldout 500 --eval-every 20
        --workers "${WORKERS:-15}" --threads 1 --batch-size 1024 --micro-batch 64
        --deadline-s "${DEADLINE_S:-420}" --settings iso8=8/0,swarm=4/4,iso4=4/0)
    ;;
*)
    echo "usage: $0 [--small]" >&2
    exit 2
    ;;
esac
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$py" -m bench.sapo "${args[@]}" --out "$out"
"$py" -m bench.stats power >"$out/power.txt"
echo "results: $out/results.json $out/report.txt $out/sapo.png $out/power.txt"
