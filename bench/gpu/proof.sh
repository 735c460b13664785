#!/usr/bin/env bash
# The honest proof checks of docs/PROTOCOL.md §9.1 (fp32 across device kernels, batch sizes and the
# CPU) and §9.7 (bf16 against three cheats) on one CUDA device, in well under 8 minutes
# (bench/gpu_proof.py). Results: $OUT/proof/report.md and results.json.
#
# Prepare here: `bash bench/gpu/proof.sh prepare` (bench/gpu/prepare.sh, which puts the wheels and
# the SmolLM2 GGUF in three parts under the git-ignored .gpu/, plus the wheels the verifier's
# commitments need). Then on the device, three calls in a row while the machine stays warm:
#   1. carry [.gpu/whl, .gpu/p0]  command: bash bench/gpu/proof.sh stage
#   2. carry [.gpu/p1]            command: bash bench/gpu/proof.sh stage
#   3. carry [.gpu/p2]            command: bash bench/gpu/proof.sh run
# Here, the same code end to end on the CPU with a few short rollouts (no staging; the tiny model,
# MODEL=smollm2 for the real one):
#   bash bench/gpu/proof.sh run --device cpu --small
set -euo pipefail
cd "$(dirname "$0")/../.."
mode="${1:-}"
shift || true
device=cuda
small=()
while [ $# -gt 0 ]; do
    case "$1" in
    --device) device="$2"; shift 2 ;;
    --small) small=(--small); shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
case "$mode" in
prepare)
    bash bench/gpu/prepare.sh
    pin() { grep -i -E "^$1==" constraints.txt | head -1; }
    # verifier.commitments (imported by the verifier) needs eth_abi; regex is on the device already.
    python3 -m pip wheel -q --no-deps -w .gpu/whl "$(pin eth_abi)" "$(pin parsimonious)"
    du -sh .gpu/whl
    ;;
stage)
    exec bash bench/gpu/sapo_design.sh stage  # the same wheels and GGUF parts, kept under /tmp/rollproof-gpu
    ;;
run)
    export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
    if [ "$device" = cpu ]; then
        out="${OUT:-$(mktemp -d /tmp/rollproof-proof-XXXXXX)}"
        # --small on a shared CPU: the tiny model (SmolLM2 in bf16 on one loaded core takes most of an hour)
        model="${MODEL:-$([ ${#small[@]} -gt 0 ] && echo tiny || echo smollm2)}"
        python="${PYTHON:-.venv/bin/python}"
        [ -x "$python" ] || python=python3
        exec nice -n 10 env OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" PYTHONPATH="$PWD" \
            "$python" -m bench.gpu_proof --model "$model" --device cpu "${small[@]}" --out "$out/proof"
    fi
    keep=/tmp/rollproof-gpu
    export PYTHONPATH="$keep/site:$PWD"
    for f in .gpu/p*/part.*; do [ -e "$f" ] && cp "$f" "$keep/"; done
    cat "$keep"/part.00 "$keep"/part.01 "$keep"/part.02 >"$keep/smollm2.gguf"
    python3 - "$keep" <<'PY'
import sys
from pathlib import Path
from transformers import AutoModelForCausalLM, AutoTokenizer
keep = Path(sys.argv[1])
out = keep / "smollm2"
if not (out / "config.json").exists():
    AutoModelForCausalLM.from_pretrained(str(keep), gguf_file="smollm2.gguf").save_pretrained(out)
    AutoTokenizer.from_pretrained(str(keep), gguf_file="smollm2.gguf").save_pretrained(out)
print("model at", out)
PY
    nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv
    mkdir -p "$OUT/proof"
    set -o pipefail
    timeout 450 python3 -m bench.gpu_proof --model "$keep/smollm2" --device "$device" "${small[@]}" \
        --out "$OUT/proof" 2>&1 | tee "$OUT/proof/log.txt"
    ;;
*)
    echo "usage: $0 prepare | stage | run [--device cuda|cpu] [--small]" >&2
    exit 2
    ;;
esac
