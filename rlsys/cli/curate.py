"""`rlsys curate CONFIG.yaml [key=value ...]`: best-of-n curation of SFT data and preference pairs.

    rlsys curate configs/curate.yaml model.path=runs/sft/final/hf run.output_dir=runs/curated

The config holds a curate stage's fields (rlsys/core/config.py `CurateConfig`: sources, models,
rollout, rewards, filters, quota, ...) plus `run` and `model`. Writes sft.jsonl, pairs.jsonl,
report.md and report.json to `run.output_dir`; a rerun after a kill continues from the finished
shards. `register(app)` adds the command (rlsys/cli/__init__.py calls it).
"""

from __future__ import annotations

from pathlib import Path

import typer


def curate(
    config: Path = typer.Argument(..., help="curation config YAML"),
    overrides: list[str] | None = typer.Argument(None, help="key.sub=value overrides"),
) -> None:
    """Answer prompts n times with one or several models, rank by rewards, keep SFT rows and pairs."""
    from rlsys.cli.common import console, fail, quiet_libraries
    from rlsys.core.config import ConfigError, load_config
    from rlsys.core.pipeline_config import CurateConfig

    try:
        cfg = load_config(config, list(overrides or []), model=CurateConfig)
    except ConfigError as exc:
        fail(str(exc))
    quiet_libraries()
    from rlsys.curate import CurateError, run_curation

    try:
        result = run_curation(
            cfg, cfg.run.output_dir, cfg.model.path, dtype=cfg.model.dtype, seed=cfg.run.seed, console=console
        )
    except (CurateError, FileNotFoundError, ValueError) as exc:  # DataError is a ValueError
        fail(str(exc))
    m = result["metrics"]
    console.print(
        f"[green]done[/]: {int(m['curate/sft_rows'])} SFT rows -> {result['sft']}, "
        f"{int(m['curate/pairs'])} pairs -> {result['pairs']}; report: {result['report']}"
    )


def register(app: typer.Typer) -> None:
    app.command("curate")(curate)
