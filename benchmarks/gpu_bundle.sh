#!/usr/bin/env bash
# Wheels that let benchmarks/gpu_check.py run on a CUDA machine that has only Python, torch and
# transformers and no network: this project, DeepSpeed (a pure-Python wheel built here, no
# precompiled ops; gpu_check's DeepSpeed variant needs none) and the dependencies such a machine
# lacks (pydantic for the config, DeepSpeed's own), for the GPU machine's Python version.
#
#   bash benchmarks/gpu_bundle.sh                 # here, with network: writes build/gpu_bundle/
#   # carry the repository (build/gpu_bundle/ included) to the GPU machine, then there:
#   pip install --no-index --no-deps build/gpu_bundle/*.whl
#   python benchmarks/gpu_check.py
#
# Without pip there: `python -m zipfile -e WHEEL build/site` for each wheel, then
# PYTHONPATH=build/site python benchmarks/gpu_check.py.
# Versions are the ones pinned in requirements/cpu.txt. OUT is the folder; PYVER (default 3.12) and PLATFORM
# (default manylinux2014_x86_64) pick the binary wheels (pydantic-core, msgpack, ninja).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
PYVER=${PYVER:-3.12}
PLATFORM=${PLATFORM:-manylinux2014_x86_64}
OUT=${OUT:-build/gpu_bundle}
rm -rf "$OUT"
mkdir -p "$OUT"

pin() {  # the pinned requirement for a package name, e.g. `pin pydantic` -> pydantic==2.14.4
  grep -i -E "^$1==" requirements/cpu.txt | head -1
}

# the project (pure Python)
"$PY" -m pip wheel --quiet --no-deps -w "$OUT" .
# DeepSpeed: its sdist builds a pure-Python wheel when no op is prebuilt (it imports torch to build)
DS_BUILD_OPS=0 "$PY" -m pip wheel --quiet --no-deps --no-build-isolation -w "$OUT" "$(pin deepspeed)"
# what the bare machine lacks, as wheels for its Python
"$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version "$PYVER" --platform "$PLATFORM" \
  --implementation cp -d "$OUT" \
  "$(pin pydantic)" "$(pin pydantic_core)" "$(pin annotated-types)" "$(pin typing-inspection)" \
  "$(pin hjson)" "$(pin py-cpuinfo)" "$(pin msgpack)" "$(pin ninja)" "$(pin einops)"
ls -l "$OUT"
du -sh "$OUT"
