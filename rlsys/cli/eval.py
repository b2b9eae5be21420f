"""`rlsys eval`: evaluate a checkpoint on translation, IF-MT, instruction, math, code and judge sets.

    rlsys eval runs/x/checkpoints/step_000020/hf --data translation=eval_translation.jsonl \\
        --data math=eval_math.jsonl --data instructions=eval_instructions.jsonl --out report \\
        --samples-per-prompt 8 --pass-k 1 --pass-k 4 --qe-model /models/cometkiwi

Prints the metrics table on stdout; with `--out` also writes eval.json, eval.md (the report) and
samples.jsonl there. Everything a config's `eval:` section holds is also a flag here. `register(app)` adds the command (rlsys/cli/__init__.py calls it). Heavy libraries
are imported only when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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
    data: Annotated[
        list[str],
        typer.Option(
            "--data",
            help="TASK=PATH, repeatable; TASK: translation, ifmt, instructions, math, code or judge (or TASK:label).",
        ),
    ],
    out: Annotated[Path | None, typer.Option(help="Folder for eval.json, eval.md and samples.jsonl.")] = None,
    backend: Annotated[str, typer.Option(help="hf | vllm")] = "hf",
    max_new_tokens: Annotated[int, typer.Option(help="Most generated tokens per prompt.")] = 256,
    max_model_len: Annotated[int, typer.Option(help="Most prompt + completion tokens.")] = 2048,
    limit: Annotated[int | None, typer.Option(help="Only the first N rows of each set.")] = None,
    batch_size: Annotated[int, typer.Option(help="Prompts per generate call (hf backend).")] = 16,
    dtype: Annotated[str, typer.Option(help="auto | float32 | bfloat16 | float16")] = "auto",
    tensor_parallel_size: Annotated[int, typer.Option(help="GPUs per vLLM engine.")] = 1,
    samples_per_prompt: Annotated[int, typer.Option(help="Sampled answers per math/code prompt for pass@k.")] = 1,
    pass_k: Annotated[list[int] | None, typer.Option(help="k of pass@k, repeatable (default 1).")] = None,
    temperature: Annotated[float, typer.Option(help="Temperature of the pass@k samples.")] = 0.8,
    qe_url: Annotated[str | None, typer.Option(help="A running QE reward server (comet / comet_qe).")] = None,
    comet_model: Annotated[str | None, typer.Option(help="COMET checkpoint; starts a QE server in .venv-qe.")] = None,
    qe_model: Annotated[str | None, typer.Option(help="CometKiwi-style checkpoint; likewise.")] = None,
    judge_url: Annotated[str | None, typer.Option(help="OpenAI-compatible base URL for judge sets.")] = None,
    judge_model: Annotated[str | None, typer.Option(help="Model name sent to the judge.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help=VERBOSE_HELP)] = False,
) -> None:
    """Evaluate a checkpoint: chrF/BLEU/COMET, IFEval strict/loose, IF-MT rules, math/code accuracy and pass@k."""
    from rlsys.cli.common import fail, logged_run, quiet_libraries
    from rlsys.core.config import ConfigError, validate
    from rlsys.core.pipeline_config import EvalConfig

    settings = dict(
        data=_parse_data(data),
        backend=backend,
        max_new_tokens=max_new_tokens,
        max_model_len=max_model_len,
        limit=limit,
        batch_size=batch_size,
        dtype=dtype,
        tensor_parallel_size=tensor_parallel_size,
        samples_per_prompt=samples_per_prompt,
        pass_k=pass_k or [1],
        temperature=temperature,
        output_dir=str(out) if out else None,
    )
    if qe_url or comet_model or qe_model:
        settings["qe"] = {"url": qe_url, "comet_model": comet_model, "qe_model": qe_model}
    if judge_url or judge_model:
        settings["judge"] = {"url": judge_url, "model": judge_model}
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
