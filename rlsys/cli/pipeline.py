"""`rlsys pipeline CONFIG.yaml [key=value ...]`: the Tower+ stages in order (rlsys/pipeline.py).

`register(app)` adds the command to the main Typer app (rlsys/cli/__init__.py calls it). The config is
validated before torch is imported; `stages.<index or name>.key=value` overrides one stage.
"""

from __future__ import annotations

from pathlib import Path

import typer

from rlsys.cli.common import VERBOSE_HELP


def pipeline(
    config: Path = typer.Argument(..., help="pipeline config YAML"),
    overrides: list[str] | None = typer.Argument(None, help="key.sub=value overrides; stages.<i|name>.key=value"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help=VERBOSE_HELP),
) -> None:
    """Run the Tower+ stages (cpt, sft, dpo/wpo, grpo) in order; completed stages are skipped."""
    from rlsys.cli.common import console, fail, logged_run, quiet_libraries
    from rlsys.core.config import ConfigError
    from rlsys.pipeline import load_pipeline_config, run_pipeline

    try:
        cfg = load_pipeline_config(config, list(overrides or []))
    except ConfigError as exc:
        fail(str(exc))
    quiet_libraries()
    with logged_run(Path(cfg.run.output_dir) / "logs", verbose):  # each stage logs in its own folder
        try:
            run_pipeline(cfg, console)
        except (FileNotFoundError, ValueError) as exc:  # bad data (DataError), a changed completed stage
            fail(str(exc))
    console.print(f"[green]done[/]: {Path(cfg.run.output_dir) / 'pipeline_summary.md'}")


def register(app: typer.Typer) -> None:
    app.command("pipeline")(pipeline)
