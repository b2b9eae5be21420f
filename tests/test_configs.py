"""Every YAML under configs/ validates: RLConfig, or PipelineConfig when the file has `stages:`.

A shipped config that fails to load is a bug users meet first; this test finds it in a second.
Paths inside the configs are not checked for existence (the Tower+ recipes name placeholders).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from rlsys.core.config import PipelineConfig, RLConfig, load_config, read_yaml

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
FILES = sorted(CONFIGS.rglob("*.yaml")) + sorted(CONFIGS.rglob("*.yml"))


def test_configs_folder_has_configs():
    assert FILES, f"no YAML under {CONFIGS}"
    assert len(list((CONFIGS / "towerplus").glob("*.yaml"))) == 3


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_config_validates(path):
    model = PipelineConfig if "stages" in read_yaml(path) else RLConfig
    load_config(path, model=model)  # raises ConfigError naming the file and every bad key


@pytest.mark.parametrize("path", sorted((CONFIGS / "towerplus").glob("*.yaml")), ids=lambda p: p.name)
def test_towerplus_recipes_have_the_four_stages_and_an_evaluation(path):
    cfg = load_config(path, model=PipelineConfig)
    assert [s.type for s in cfg.stages] == ["cpt", "sft", "wpo", "grpo"]
    assert cfg.model.dtype == "bfloat16" and cfg.model.path.startswith("/models/")
    assert cfg.eval is not None and set(cfg.eval.data) == {"translation", "math", "instructions"}
