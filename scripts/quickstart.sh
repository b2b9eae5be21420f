#!/usr/bin/env bash
# Tower+ in miniature (run by `make quickstart` after setup): toy data, a tiny base model, then
# the stages (CPT, SFT, curate, WPO, GRPO) with an evaluation before and after each. Everything lands in runs/quickstart/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 VLLM_LOGGING_LEVEL=WARNING RAY_USAGE_STATS_ENABLED=0
out=runs/quickstart
start=$(date +%s)
.venv/bin/python scripts/make_toy_world.py "$out/data"
[[ -f "$out/base-model/config.json" ]] || \
    .venv/bin/rlsys tiny-model "$out/base-model" --arch llama --hidden-size 128 --layers 2 --corpus "$out/data/corpus.txt"
.venv/bin/rlsys pipeline configs/quickstart.yaml "$@"
echo "quickstart: done in $(( $(date +%s) - start )) s; summary: $out/pipeline_summary.md"
