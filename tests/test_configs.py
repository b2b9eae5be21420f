"""Every YAML under configs/ validates: RLConfig, PipelineConfig when the file has `stages:`,
CurateConfig when it has `sources:` (an `rlsys curate` config).

A shipped config that fails to load is a bug users meet first; this test finds it in a second.
Paths inside the configs are not checked for existence (the Tower+ recipes name placeholders).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rlsys.core.config import RLConfig, load_config, read_yaml
from rlsys.core.pipeline_config import CurateConfig, PipelineConfig

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
FILES = sorted(CONFIGS.rglob("*.yaml")) + sorted(CONFIGS.rglob("*.yml"))


def test_configs_folder_has_configs():
    assert FILES, f"no YAML under {CONFIGS}"
    assert len(list((CONFIGS / "towerplus").glob("*.yaml"))) == 3


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_config_validates(path):
    data = read_yaml(path)
    model = PipelineConfig if "stages" in data else CurateConfig if "sources" in data else RLConfig
    load_config(path, model=model)  # raises ConfigError naming the file and every bad key


@pytest.mark.parametrize("path", sorted((CONFIGS / "towerplus").glob("*.yaml")), ids=lambda p: p.name)
def test_towerplus_recipes_have_the_four_stages_and_an_evaluation(path):
    cfg = load_config(path, model=PipelineConfig)
    assert [s.type for s in cfg.stages] == ["cpt", "sft", "wpo", "grpo"]
    assert cfg.model.dtype == "bfloat16" and cfg.model.path.startswith("/models/")
    assert cfg.eval is not None and set(cfg.eval.data) == {"translation", "math", "instructions", "ifmt"}
    assert cfg.eval.qe is not None and cfg.eval.qe.comet_model  # the paper's XCOMET-XXL (a placeholder path)


@pytest.mark.parametrize("path", sorted((CONFIGS / "towerplus").glob("*.yaml")), ids=lambda p: p.name)
def test_towerplus_values_say_where_they_come_from(path):
    """Every value line of a recipe says `paper (grade)` or `ours` (paths and names excepted), and
    the CPT shares are token shares."""
    bare = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped.endswith(":") or stripped.startswith("- {name:"):
            continue
        if (
            stripped.startswith(("run:", "model:", "stages:", "eval:", "data:"))
            or "path:" in stripped.split("#")[0][:12]
        ):
            continue
        if "# paper" not in line and "# ours" not in line and not _in_commented_block(path, number):
            bare.append(f"{path.name}:{number}: {stripped}")
    assert not bare, "values without a source comment:\n" + "\n".join(bare)
    assert load_config(path, model=PipelineConfig).stages[0].mixing == "tokens"


def _in_commented_block(path: Path, number: int) -> bool:
    """A line inside a block whose header says `# ours: every value of this block`."""
    lines = path.read_text().splitlines()[:number]
    indent = len(lines[-1]) - len(lines[-1].lstrip())
    for line in reversed(lines[:-1]):
        if line.strip() and len(line) - len(line.lstrip()) < indent:
            return "every value of this block" in line
    return False
