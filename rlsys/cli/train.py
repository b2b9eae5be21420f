"""`rlsys train`, `rlsys submit` and `rlsys tiny-model`: start an RL job locally, on a Ray
cluster through Ray Jobs, or make a tiny random model to try it on.

Configs are validated before anything heavy is imported, so a typo fails in a second.
"""

from __future__ import annotations

from pathlib import Path

import typer

from rlsys.cli.common import VERBOSE_HELP, console, fail, logged_run, quiet_libraries
from rlsys.core.config import ConfigError, load_config


def train(
    config: Path = typer.Argument(..., help="RL config YAML"),
    overrides: list[str] | None = typer.Argument(None, help="key.sub=value overrides"),
    address: str | None = typer.Option(None, help="connect to this Ray cluster instead of starting one"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help=VERBOSE_HELP),
) -> None:
    """Run a GRPO-family RL job (on local Ray unless --address or cluster.type=inline)."""
    extra = list(overrides or [])
    if address:
        extra.append(f"cluster.address={address}")
    try:
        cfg = load_config(config, extra)
    except ConfigError as exc:
        fail(str(exc))
    quiet_libraries()
    with logged_run(Path(cfg.run.output_dir) / "logs", verbose):
        from rlsys.core.data import DataError
        from rlsys.driver import train as run_training

        try:
            final = run_training(cfg)
        except (DataError, FileNotFoundError, ValueError) as exc:
            fail(str(exc))
    console.print(f"[green]done[/]: final checkpoint {final}")


def submit(
    config: Path = typer.Argument(..., help="RL config YAML (relative to the working dir)"),
    overrides: list[str] | None = typer.Argument(None, help="key.sub=value overrides"),
    address: str = typer.Option("http://127.0.0.1:8265", help="Ray dashboard / Jobs address"),
    working_dir: Path = typer.Option(Path("."), help="uploaded as the job's working dir"),
    env: list[str] | None = typer.Option(None, help="KEY=VALUE environment for the job"),
    follow: bool = typer.Option(True, help="stream the job's logs until it ends"),
) -> None:
    """Submit `rlsys train CONFIG` to a Ray cluster through Ray Jobs; exits with the job's status."""
    try:
        load_config(working_dir / config, list(overrides or []))
    except ConfigError as exc:
        fail(str(exc))
    from rlsys.submit import submit_job

    raise typer.Exit(submit_job(address, config, list(overrides or []), working_dir, list(env or []), follow, console))


def tiny_model(
    out: Path = typer.Argument(..., help="output folder"),
    arch: str = typer.Option("llama", help="llama | qwen2 | gemma2"),
    hidden_size: int = typer.Option(128),
    layers: int = typer.Option(2),
    heads: int = typer.Option(4),
    head_dim: int = typer.Option(32, help="vLLM on CPU needs 32, 64, 80, 96, 112, 128, ..."),
    seed: int = typer.Option(0),
    corpus: Path | None = typer.Option(None, help="extra tokenizer training text, one text per line"),
) -> None:
    """Write a tiny random model + offline-trained tokenizer with a chat template."""
    from rlsys.toy.tiny import ARCHS, build_tiny_model, check_vllm_support

    if arch not in ARCHS:
        fail(f"--arch {arch!r}: expected one of {', '.join(ARCHS)}")
    if corpus is not None and not corpus.is_file():
        fail(f"--corpus {corpus}: file not found")
    texts = corpus.read_text(encoding="utf-8").splitlines() if corpus else None
    path = build_tiny_model(
        out,
        arch,
        hidden_size=hidden_size,
        num_layers=layers,
        num_heads=heads,
        head_dim=head_dim,
        seed=seed,
        corpus=texts,
    )
    console.print(f"[green]wrote[/] {path}")
    support = check_vllm_support(arch)
    if not support.supported:
        console.print(
            f"[yellow]note:[/] the CPU vLLM build refuses {arch}: {support.reason}. "
            "Use rollout.backend=hf for this model on CPU."
        )


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command()(submit)
    app.command("tiny-model")(tiny_model)
