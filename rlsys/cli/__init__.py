"""`rlsys` command line: train, submit, pipeline, curate, eval, tiny-model, serve-rewards, rewards list.

Each command lives in its own module with a `register(app)`; this package only assembles them.
Configs are validated before anything heavy is imported, so a typo fails in a second.
"""

from __future__ import annotations

import typer

import rewards.cli
from rlsys.cli import curate, pipeline, train
from rlsys.cli import eval as eval_cmd

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.split("\n")[0])
for module in (train, pipeline, curate, eval_cmd, rewards.cli):
    module.register(app)


def main() -> None:
    app(prog_name="rlsys")
