#!/usr/bin/env bash
# Runs ON the device machine (docs/LEARNING.md §5). Prepared by bench/gpu/prepare.sh here.
#   stage: install the carried wheels (if carried) and keep the carried GGUF parts (calls 1, 2)
#   run:   keep the last part, join the GGUF, convert it once, run the design on cuda (call 3:
#          bench/gpu_learning.sh, which writes under $OUT/sapo)
# Everything kept between the two calls lives under /tmp/rollproof-gpu on the warm machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
keep=/tmp/rollproof-gpu
mkdir -p "$keep"
keep_parts() { for f in .gpu/p*/part.*; do [ -e "$f" ] && cp "$f" "$keep/"; done; ls "$keep"; }
case "${1:-}" in
stage)
    keep_parts
    [ -d .gpu/whl ] || exit 0
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$keep/site" .gpu/whl/*.whl
    python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir \
        --target "$keep/site" .gpu/whl/sdist/*
    ;;
run)
    export PYTHONPATH="$keep/site:$PWD" HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
    keep_parts
    cat "$keep"/part.00 "$keep"/part.01 "$keep"/part.02 >"$keep/smollm2.gguf"
    python3 - "$keep" <<'PY'
import sys
from pathlib import Path
from transformers import AutoModelForCausalLM, AutoTokenizer
keep = Path(sys.argv[1])
out = keep / "smollm2"
if not (out / "config.json").exists():
    model = AutoModelForCausalLM.from_pretrained(str(keep), gguf_file="smollm2.gguf")
    tok = AutoTokenizer.from_pretrained(str(keep), gguf_file="smollm2.gguf")
    model.save_pretrained(out)
    tok.save_pretrained(out)
print("model at", out)
PY
    MODEL="$keep/smollm2" PYTHON=python3 bash bench/gpu_learning.sh
    ;;
*)
    echo "usage: $0 stage|run" >&2
    exit 2
    ;;
esac
