"""Reward commands for the `rlsys` CLI: `rlsys serve-rewards` and `rlsys rewards list`.

`register(app)` adds them to the main Typer app (rlsys/cli/__init__.py calls it). The service and its web
stack are imported only when `serve-rewards` runs, so `rlsys --help` stays fast.

    rlsys serve-rewards --rewards math,exact_match --port 8000 --token-env RLSYS_REWARD_TOKEN
    rlsys serve-rewards --rewards code --settings operator.yaml --set code.timeout_s=10

Reward settings given here (`--settings FILE`, `--set REWARD.KEY=VALUE`; `--set` wins) are the
operator's: the only way to set a reward's safety and resource limits on a server. A request may
change only the settings a reward declares request-safe (`rlsys rewards list` shows them).
    rlsys rewards list

Not covered: multiple server processes (run several behind a load balancer).
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rewards.registry import list_rewards


def serve_rewards(ctx: typer.Context) -> None:
    """Serve reward functions over HTTP (POST /v1/score, OpenRLHF route, /metrics); --help for options."""
    from rewards.service import main

    main(ctx.args, prog_name="rlsys serve-rewards")


def list_cmd() -> None:
    """List every reward this installation can name: built-ins and plugins."""
    table = Table(title="rewards")
    table.add_column("name", style="bold")
    table.add_column("columns")
    table.add_column("request settings")
    table.add_column("description")
    for name, spec in sorted(list_rewards().items()):
        columns = ", ".join(spec.columns)
        if spec.optional_columns:
            columns += (", " if columns else "") + ", ".join(f"{c} (optional)" for c in spec.optional_columns)
        safe = ", ".join(spec.request_settings)
        table.add_row(escape(name), escape(columns) or "-", escape(safe) or "-", escape(spec.description) or "-")
    Console(width=max(120, Console().width)).print(table)


def register(app: typer.Typer) -> None:
    """Add `serve-rewards` and the `rewards` sub-app (`rewards list`) to the main CLI."""
    forward = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}
    app.command("serve-rewards", context_settings=forward, add_help_option=False)(serve_rewards)
    rewards_app = typer.Typer(help="Inspect reward functions.", no_args_is_help=True)
    rewards_app.command("list")(list_cmd)
    app.add_typer(rewards_app, name="rewards")
