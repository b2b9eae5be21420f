"""Reward commands for the `rlsys` CLI: `rlsys serve-rewards` and `rlsys rewards list`.

`register(app)` adds them to the main Typer app (rlsys/cli.py calls it). The service and its web
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

import os
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rewards.registry import list_rewards


def serve_rewards(
    rewards: Annotated[
        str, typer.Option(help="Comma-separated reward names or package.module:function paths; empty = all registered.")
    ] = "",
    host: Annotated[str, typer.Option(help="Interface to bind; 127.0.0.1 keeps it local.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port; 0 picks a free one (the URL is printed when ready).")] = 8000,
    token_env: Annotated[
        str, typer.Option(help="Name of an environment variable holding the bearer token clients must send.")
    ] = "",
    max_body_bytes: Annotated[int, typer.Option(help="Larger request bodies get 413.")] = 32 * 2**20,
    max_batch: Annotated[int, typer.Option(help="Requests with more samples get 413.")] = 4096,
    request_timeout_s: Annotated[
        float, typer.Option(help="Rewards unfinished after this many seconds give status 'timeout'.")
    ] = 45.0,
    max_concurrency: Annotated[int, typer.Option(help="Reward calls running at once, across requests.")] = 8,
    openrlhf_reward: Annotated[
        str, typer.Option(help="Reward used by the OpenRLHF-compatible route POST /openrlhf (and /get_reward).")
    ] = "",
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    settings: Annotated[
        str, typer.Option(help="YAML/JSON file of the operator's reward settings: {reward: {key: value}}.")
    ] = "",
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Operator setting REWARD.KEY=VALUE (YAML value), repeatable; wins over --settings."),
    ] = None,
) -> None:
    """Serve reward functions over HTTP (POST /v1/score, OpenRLHF route, /metrics)."""
    from rewards.service import serve
    from rewards.settings import SettingError, load_settings_file, parse_assignments

    token = None
    if token_env:
        token = os.environ.get(token_env)
        if not token:
            raise typer.BadParameter(f"environment variable {token_env!r} is unset or empty", param_hint="--token-env")
    names = [n.strip() for n in rewards.split(",") if n.strip()] or None
    try:
        operator = load_settings_file(settings) if settings else {}
        for name, values in parse_assignments(set_ or []).items():
            operator.setdefault(name, {}).update(values)
    except SettingError as exc:
        raise typer.BadParameter(str(exc), param_hint="--settings/--set") from None
    try:
        serve(
            names,
            host=host,
            port=port,
            token=token,
            log_level=log_level,
            max_body_bytes=max_body_bytes,
            max_batch=max_batch,
            request_timeout_s=request_timeout_s,
            max_concurrency=max_concurrency,
            openrlhf_reward=openrlhf_reward or None,
            settings=operator,
        )
    except (KeyError, ValueError) as exc:
        raise typer.BadParameter(str(exc).strip("'\"")) from None


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
    app.command("serve-rewards")(serve_rewards)
    rewards_app = typer.Typer(help="Inspect reward functions.", no_args_is_help=True)
    rewards_app.command("list")(list_cmd)
    app.add_typer(rewards_app, name="rewards")
