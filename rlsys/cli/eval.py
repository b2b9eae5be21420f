"""`rlsys eval`: greedy evaluation of a checkpoint on translation, math and instruction sets.

    rlsys eval runs/x/checkpoints/step_000020/hf --data translation=eval_translation.jsonl \\
        --data math=eval_math.jsonl --data instructions=eval_instructions.jsonl --out report

Prints the markdown table on stdout; with `--out` also writes eval.json, eval.md and
samples.jsonl there. `register(app)` adds the command (rlsys/cli/__init__.py calls it). Heavy libraries
are imported only when the command runs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from rlsys.cli.common import VERBOSE_HELP


def _parse_data(items: list[str]) -> dict[str, str]:
    data: dict[str, str] = {}
    for item in items:
        key, sep, path = item.partition("=")
        if not sep or not key or not path:
            raise typer.BadParameter(f"{item!r} is not TASK=PATH (e.g. math=eval_math.jsonl)", param_hint="--data")
        if key in data:
            hint = f"set {key!r} given twice; name them apart as {key}:a=... {key}:b=..."
            raise typer.BadParameter(hint, param_hint="--data")
        data[key] = path
    return data


def eval_command(
    checkpoint: Annotated[Path, typer.Argument(help="Model folder in Hugging Face format (weights + tokenizer).")],
    data: Annotated[list[str], typer.Option(
        "--data", help="TASK=PATH, repeatable; TASK: translation, math or instructions (or TASK:label).")],
    out: Annotated[Optional[Path], typer.Option(help="Folder for eval.json, eval.md and samples.jsonl.")] = None,
    backend: Annotated[str, typer.Option(help="hf | vllm")] = "hf",
    max_new_tokens: Annotated[int, typer.Option(help="Most generated tokens per prompt.")] = 256,
    max_model_len: Annotated[int, typer.Option(help="Most prompt + completion tokens.")] = 2048,
    limit: Annotated[Optional[int], typer.Option(help="Only the first N rows of each set.")] = None,
    batch_size: Annotated[int, typer.Option(help="Prompts per generate call (hf backend).")] = 16,
    dtype: Annotated[str, typer.Option(help="auto | float32 | bfloat16 | float16")] = "auto",
    tensor_parallel_size: Annotated[int, typer.Option(help="GPUs per vLLM engine.")] = 1,
    loose: Annotated[bool, typer.Option(help="IFEval loose checking of instruction constraints.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help=VERBOSE_HELP)] = False,
) -> None:
    """Evaluate a checkpoint greedily: chrF (translation), accuracy (math), constraint accuracy (instructions)."""
    from rlsys.cli.common import fail, logged_run, quiet_libraries
    from rlsys.core.config import ConfigError, EvalConfig, validate

    settings = dict(
        data=_parse_data(data), backend=backend, max_new_tokens=max_new_tokens, max_model_len=max_model_len,
        limit=limit, batch_size=batch_size, dtype=dtype, tensor_parallel_size=tensor_parallel_size,
        instructions_mode="loose" if loose else "strict", output_dir=str(out) if out else None,
    )
    try:
        cfg = validate(EvalConfig, settings, "rlsys eval")
    except ConfigError as exc:
        fail(str(exc))
    quiet_libraries()
    with logged_run(out / "logs" if out else None, verbose) as streams:  # no --out: a temporary folder
        from rlsys.core.data import DataError
        from rlsys.evaluate import EvalError, evaluate, markdown_table

        try:
            metrics = evaluate(str(checkpoint), cfg)
        except (DataError, EvalError, FileNotFoundError) as exc:
            fail(str(exc))
        typer.echo(markdown_table({checkpoint.name or str(checkpoint): metrics}), nl=False, file=streams.stdout)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
