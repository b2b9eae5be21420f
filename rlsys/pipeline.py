"""The Tower+ recipe as one job: stages in order, each from the previous stage's model.

`rlsys pipeline CONFIG.yaml` runs `PipelineConfig.stages` (cpt, sft, dpo, wpo, grpo, curate in any
order): the first stage starts from `model.path`, every later one from the model its predecessor
exported. cpt / sft / dpo / wpo run in this process (pretrain_sft/stage.py); grpo calls the RL
driver (`rlsys.driver.train`) with an RLConfig built from the stage; curate (rlsys/curate.py)
answers its prompts with the current model (and any others it lists), writes `sft.jsonl` and
`pairs.jsonl` into its folder for later stages to name as sources, and hands the model on
unchanged. With `eval` set, the base model and every stage's model are evaluated
(`rlsys.evaluate.evaluate(model_dir, eval_cfg)`; one QE server, if `eval.qe` asks for one, serves
every evaluation of the run), and the summary places the stages on a translation-vs-general
Pareto plot with a regression gate (`eval.pareto`, rlsys/eval_report.py).

Run folder:
    config.yaml                   the resolved pipeline config
    stages/0_base/                eval/ and eval_scores.json: the base model's evaluation
    stages/<i>_<name>/            config.yaml, metrics.jsonl, tensorboard/ of the stage, and
        checkpoints/step_N/       in-stage checkpoints while the stage runs (see Resume)
        final/hf/                 its model (cpt/sft/dpo/wpo; grpo: checkpoints/step_N/hf/)
        sft.jsonl, pairs.jsonl    curate: the curated data (+ report.md, shards/)
        logs/                     driver.log and one log per Ray actor (`rlsys pipeline`: rlsys/core/logs.py)
        DONE                      json: input model, model dir, stage config, last metrics; written last
        eval/, eval_scores.json   the stage model's evaluation (report; scores the summary uses)
    pipeline_summary.json / .md   per stage: model, last train / validation metrics, evaluation,
                                  translation / general scores, Pareto front, regression flags
    pareto.png                    translation score vs general score of every evaluated model

Resume: the stages before the first one without DONE are skipped (the stage config and input
model recorded in DONE must match the current ones, else the run stops and says which folder to
delete). That first pending stage keeps its folder and continues from its newest complete
in-stage checkpoint (cpt / sft / dpo / wpo with `checkpoint_every`: pretrain_sft/stage.py; grpo:
the RL driver's own resume; curate: its finished shards), or starts over when it has none; every
later stage runs again in a clean folder (its input model is new). An evaluation runs again when
its eval_scores.json is missing or was made for another model folder or eval config.

Not covered: stages on different machines (the grpo stage alone uses Ray), choosing which
intermediate model to continue from (always the previous stage's), evaluating a curate stage
(its model is its input's; the summary shows its data counts).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from rlsys.core.config import (
    ConfigError,
    ModelConfig,
    RunConfig,
    apply_overrides,
    dump_config,
    parse_override,
    read_yaml,
    validate,
)
from rlsys.core.logs import move_to
from rlsys.core.pipeline_config import CurateStage, GRPOStage, ParetoConfig, PipelineConfig
from rlsys.core.progress import Display, run_display

if TYPE_CHECKING:
    from rlsys.qe_server import QEService

SUMMARY_KEYS = (
    "loss",
    "val/loss",
    "rewards/accuracy",
    "val/rewards/accuracy",
    "reward/mean",
    "curate/sft_rows",
    "curate/pairs",
)
"""Last-step metrics shown next to the evaluation in the summary, where a stage has them."""


# ---------------------------------------------------------------- config


def load_pipeline_config(path: str | Path, overrides: list[str] | None = None) -> PipelineConfig:
    """YAML + overrides; `stages.<index or name>.key=value` reaches into one stage (index from 0,
    as in error messages; name = the stage's `name`, or its type when that is unique)."""
    data = read_yaml(path)
    for item in overrides or []:
        keys, _ = parse_override(item)
        if keys[0] == "stages" and len(keys) > 2:
            apply_overrides(find_stage(data.get("stages"), keys[1], item), [item.split(".", 2)[2]])
        else:
            apply_overrides(data, [item])
    return validate(PipelineConfig, data, str(path))


def find_stage(stages: Any, key: str, item: str) -> dict:
    if not isinstance(stages, list):
        raise ConfigError(f"override {item!r}: the config has no list of stages")
    if key.isdigit() and int(key) < len(stages):
        return stages[int(key)]
    named = [s for s in stages if isinstance(s, dict) and s.get("name") == key]
    typed = [s for s in stages if isinstance(s, dict) and s.get("type") == key]
    if len(named) == 1 or (not named and len(typed) == 1):
        return (named or typed)[0]
    raise ConfigError(f"override {item!r}: no single stage with index, name or type {key!r}")


# ---------------------------------------------------------------- running


def run_pipeline(cfg: PipelineConfig, console: Console | None = None) -> dict[str, Any]:
    """Run every stage not yet done, evaluate, write the summary; returns the summary."""
    console = console or Console(stderr=True)
    run_dir = Path(cfg.run.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(dump_config(cfg))
    if not Path(cfg.model.path).is_dir():
        raise FileNotFoundError(f"model.path {cfg.model.path!r} does not exist or is not a folder")
    count = len(cfg.stages)
    first = next((i for i in range(1, count + 1) if read_done(stage_dir(cfg, i)) is None), count + 1)
    if cfg.check_data_first and first <= count:
        check_data(cfg, list(range(first, count + 1)), console)
    with (
        contextlib.ExitStack() as stack,
        run_display(console, [cfg.stage_name(i) for i in range(1, count + 1)]) as display,
    ):
        rows = run_stages(cfg, first, console, display, LazyQE(cfg, stack))
    return write_summary(cfg, rows, console)


def run_stages(cfg: PipelineConfig, first: int, console: Console, display: Display, qe: LazyQE) -> list[dict[str, Any]]:
    """Evaluate the base model, then skip (before `first`) or run each stage and evaluate its model
    (a curate stage hands its input model on: nothing new to evaluate)."""
    run_dir = Path(cfg.run.output_dir)
    model_dir = cfg.model.path
    move_to(run_dir / "stages" / "0_base" / "logs")  # no-op unless the command captures output (rlsys/core/logs.py)
    rows = [
        {
            "stage": "0_base",
            "type": "base",
            "model_dir": model_dir,
            "metrics": {},
            "eval": evaluate_once(cfg, model_dir, run_dir / "stages" / "0_base", qe),
        }
    ]
    for index, stage in enumerate(cfg.stages, start=1):
        folder = stage_dir(cfg, index)
        if index < first:
            move_to(folder / "logs")
            done = read_done(folder)
            if done is None:  # `first` is the first stage without DONE: someone removed it since
                raise RuntimeError(f"{folder / 'DONE'} disappeared while the pipeline was starting")
            check_unchanged(folder, done, stage.model_dump(mode="json"), model_dir)
            console.print(f"stage {folder.name}: already done, model {done['model_dir']}")
            display.skip(folder.name, "already done")
        else:
            # the first pending stage continues from its newest checkpoint (a curate stage from
            # its finished shards); a stage after it starts clean (it has a new input model)
            if folder.exists() and index > first:
                shutil.rmtree(folder)
            elif folder.exists():
                clear_outputs(folder)
            move_to(folder / "logs")
            console.rule(f"stage {folder.name} ({stage.type}) from {model_dir}")
            display.expect(folder.name)
            done = run_one(cfg, index, model_dir, folder, console)
        model_dir = done["model_dir"]
        rows.append(
            {
                "stage": folder.name,
                "type": stage.type,
                "model_dir": model_dir,
                "metrics": {k: done["metrics"][k] for k in SUMMARY_KEYS if k in done["metrics"]},
                "eval": {} if isinstance(stage, CurateStage) else evaluate_once(cfg, model_dir, folder, qe),
            }
        )
    return rows


def clear_outputs(folder: Path) -> None:
    """What an unfinished attempt of a stage may have left besides its checkpoints and logs: an
    exported model and its evaluation (cached under the same model path, it would be reused)."""
    for name in ("final", "eval"):
        shutil.rmtree(folder / name, ignore_errors=True)
    (folder / "eval_scores.json").unlink(missing_ok=True)


class LazyQE:
    """The QE service of `eval.qe`, started at the first evaluation that runs (cached evaluations
    need none) and stopped when the pipeline ends."""

    def __init__(self, cfg: PipelineConfig, stack: contextlib.ExitStack):
        self.cfg, self.stack = cfg, stack
        self.service: QEService | None = None

    def get(self) -> QEService:
        if self.service is None:
            from rlsys.qe_server import qe_service

            self.service = self.stack.enter_context(qe_service(self.cfg.eval.qe if self.cfg.eval else None))
        return self.service


def stage_dir(cfg: PipelineConfig, index: int) -> Path:
    return Path(cfg.run.output_dir) / "stages" / cfg.stage_name(index)


def read_done(folder: Path) -> dict[str, Any] | None:
    path = folder / "DONE"
    return json.loads(path.read_text()) if path.is_file() else None


def check_unchanged(folder: Path, done: dict[str, Any], stage_cfg: dict[str, Any], input_model: str) -> None:
    changed = sorted(k for k in stage_cfg.keys() | done["config"].keys() if stage_cfg.get(k) != done["config"].get(k))
    if done["input_model"] != input_model:
        changed.append(f"input model (was {done['input_model']}, now {input_model})")
    if changed:
        raise ValueError(
            f"{folder} was completed with a different setup ({', '.join(changed)}); "
            "restore the config, or delete that folder (and the later stages') to rerun it"
        )


def run_one(cfg: PipelineConfig, index: int, model_dir: str, folder: Path, console: Console) -> dict[str, Any]:
    """Train stage `index` from `model_dir`; writes and returns its DONE record."""
    stage = cfg.stages[index - 1]
    start = time.perf_counter()
    if isinstance(stage, GRPOStage):
        result = run_grpo(cfg, stage, model_dir, folder)
    elif isinstance(stage, CurateStage):
        from rlsys.curate import run_curation

        result = run_curation(stage, folder, model_dir, dtype=cfg.model.dtype, seed=cfg.run.seed, console=console)
        result["model_dir"] = model_dir  # curation changes the data, not the model
    else:
        from pretrain_sft.stage import run_stage

        result = run_stage(stage, model_dir, folder, dtype=cfg.model.dtype, seed=cfg.run.seed, console=console)
    done = {
        "stage": folder.name,
        "type": stage.type,
        "input_model": model_dir,
        "config": stage.model_dump(mode="json"),
        **result,
        "time_s": time.perf_counter() - start,
    }
    tmp = folder / "DONE.tmp"
    tmp.write_text(json.dumps(done, indent=2))
    tmp.replace(folder / "DONE")
    return done


def run_grpo(cfg: PipelineConfig, stage: GRPOStage, model_dir: str, folder: Path) -> dict[str, Any]:
    from rlsys.driver import train

    run = RunConfig(name=f"{cfg.run.name}-{folder.name}", output_dir=str(folder), seed=cfg.run.seed)
    final = train(stage.rl_config(ModelConfig(path=model_dir, dtype=cfg.model.dtype), run))
    if final is None:  # train() saves at the last step, and train.steps >= 1
        raise RuntimeError(f"the GRPO stage in {folder} finished without a final checkpoint")
    lines = (folder / "metrics.jsonl").read_text().splitlines()
    metrics = json.loads(lines[-1]) if lines else {}
    return {"model_dir": str(final / "hf"), "steps": stage.train.steps, "metrics": metrics}


def check_data(cfg: PipelineConfig, pending: list[int], console: Console) -> None:
    """Format every pending stage's data with the base tokenizer (later stages keep it), so a bad
    row fails now with its file, row and field. Sources that a pending curate stage will write
    do not exist yet: they are checked when their stage runs."""
    from transformers import AutoTokenizer

    from pretrain_sft.stage_data import load_stage_data
    from rlsys.core.data import load_prompts

    tokenizer = AutoTokenizer.from_pretrained(cfg.model.path)
    curated = [stage_dir(cfg, i).resolve() for i in pending if isinstance(cfg.stages[i - 1], CurateStage)]
    for index in pending:
        stage = cfg.stages[index - 1]
        if isinstance(stage, GRPOStage):
            load_prompts(stage.data.path, stage.data.prompt_key, stage.rewards.default)
        elif isinstance(stage, CurateStage):
            for source in stage.sources:
                load_prompts(source.path, source.prompt_key, stage.rewards.default)
        else:
            later = [s for s in stage.sources if any(Path(s.path).resolve().is_relative_to(f) for f in curated)]
            if later:
                console.print(
                    f"data of stage {cfg.stage_name(index)}: {', '.join(s.label for s in later)} "
                    "will be written by a curate stage; checked when this stage runs"
                )
                stage = stage.model_copy(update={"sources": [s for s in stage.sources if s not in later]})
                if not any(s.weight > 0 for s in stage.sources):
                    continue
            load_stage_data(stage, tokenizer, cfg.run.seed)
        console.print(f"data of stage {cfg.stage_name(index)}: ok")


def evaluate_once(cfg: PipelineConfig, model_dir: str, folder: Path, qe: LazyQE | None = None) -> dict[str, float]:
    """`rlsys.evaluate.evaluate(model_dir, eval_cfg)` with the report in the stage's folder; the
    scores are kept in folder/eval_scores.json with the model and eval config they came from
    (either changed: evaluated again). {} without eval."""
    if cfg.eval is None:
        return {}
    report = Path(cfg.eval.output_dir) / folder.name if cfg.eval.output_dir else folder / "eval"
    eval_cfg = cfg.eval.model_copy(update={"output_dir": str(report)})
    path = folder / "eval_scores.json"
    record = {"model_dir": model_dir, "config": eval_cfg.model_dump(mode="json")}
    cached = json.loads(path.read_text()) if path.is_file() else {}
    if {k: cached.get(k) for k in record} == record:
        return cached["scores"]
    from rlsys.evaluate import evaluate

    needs_qe = any(key.partition(":")[0] in ("translation", "ifmt") for key in eval_cfg.data)
    shared = qe.get() if qe is not None and needs_qe else None
    scores = {k: float(v) for k, v in evaluate(model_dir, eval_cfg, qe=shared).items()}
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**record, "scores": scores}, indent=2))
    return scores


# ---------------------------------------------------------------- summary


def write_summary(cfg: PipelineConfig, rows: list[dict[str, Any]], console: Console) -> dict[str, Any]:
    """pipeline_summary.json and .md in the run folder (with the Pareto table, pareto.png and the
    regression gate's flags), and the same table on the console."""
    train_keys = [k for k in SUMMARY_KEYS if any(k in r["metrics"] for r in rows)]
    eval_keys = sorted({k for r in rows for k in r["eval"]})
    header = ["stage", "type", *train_keys, *(f"eval/{k}" for k in eval_keys)]
    table_rows = [
        [
            r["stage"],
            r["type"],
            *(cell(r["metrics"].get(k)) for k in train_keys),
            *(cell(r["eval"].get(k)) for k in eval_keys),
        ]
        for r in rows
    ]
    pareto = pareto_rows(cfg, rows)
    summary = {"run": cfg.run.name, "stages": rows, "pareto": pareto}
    run_dir = Path(cfg.run.output_dir)
    lines = [f"# Pipeline {cfg.run.name}", "", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows]
    if pareto and cfg.eval is not None:  # pareto_rows gives rows only with an eval section
        lines += ["", *pareto_markdown(cfg.eval.pareto, pareto, run_dir)]
    lines += ["", "Models:", ""] + [f"- {r['stage']}: `{r['model_dir']}`" for r in rows]
    (run_dir / "pipeline_summary.json").write_text(json.dumps(summary, indent=2))
    (run_dir / "pipeline_summary.md").write_text("\n".join(lines) + "\n")
    # the console gets the evaluation's headline numbers, 80 columns wide (the .md has every column)
    shown = [
        i
        for i, name in enumerate(header)
        if i < 2 or (name.startswith("eval/") and name.count("/") == 2 and name.rsplit("/", 1)[-1] in CONSOLE_METRICS)
    ]
    table = Table(title=f"pipeline {cfg.run.name}: evaluation after each stage")
    for i in shown:
        title = header[i].removeprefix("eval/").replace("_accuracy", " acc").replace("/", "\n")
        table.add_column(title, justify="left" if i < 2 else "right")
    evaluated = any(r["eval"] for r in rows)  # without evaluation every stage is listed
    for row, r in zip(table_rows, rows, strict=True):
        if r["eval"] or not evaluated:
            table.add_row(*(row[i] for i in shown))
    console.print(table)
    for p in pareto:
        if p["gate"]:
            console.print(f"[bold yellow]regression[/] in stage {p['stage']}: {'; '.join(p['gate'])}")
    return summary


CONSOLE_METRICS = ("chrf", "constraint_accuracy", "prompt_accuracy", "accuracy", "win_rate")
"""Metrics of each eval set shown on the console (the .md has every one)."""


def pareto_rows(cfg: PipelineConfig, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per evaluated model: translation and general scores, Pareto front membership and the gate's
    flags against the previous evaluated model (rlsys/eval_report.py)."""
    from rlsys.eval_report import axis_scores, pareto_front, regressions

    if cfg.eval is None:
        return []
    evaluated = [r for r in rows if r["eval"]]
    points = [axis_scores(r["eval"], cfg.eval.pareto) for r in evaluated]
    complete = [(t, g) for t, g in points if t is not None and g is not None]
    front: dict[tuple[float | None, float | None], bool] = {}
    if complete:
        front.update(zip(complete, pareto_front(complete), strict=True))
    flags = regressions(points, cfg.eval.pareto)
    return [
        {"stage": r["stage"], "translation": t, "general": g, "pareto_front": front.get((t, g), False), "gate": f}
        for r, (t, g), f in zip(evaluated, points, flags, strict=True)
    ]


def pareto_markdown(p: ParetoConfig, pareto: list[dict[str, Any]], run_dir: Path) -> list[str]:
    from rlsys.plots import plot_pareto

    lines = [
        "## Translation vs general",
        "",
        "Scores are means of metrics on a 0-1 scale (`eval.pareto`); a stage is flagged when it loses more "
        f"than {p.max_translation_drop} translation or {p.max_general_drop} general against the model it started from.",
        "",
        "| stage | translation | general | Pareto front | regression gate |",
        "|---|---:|---:|:---:|---|",
    ]
    for row in pareto:
        gate = "; ".join(row["gate"]) if row["gate"] else "ok"
        lines.append(
            f"| {row['stage']} | {cell(row['translation'])} | {cell(row['general'])} | "
            f"{'yes' if row['pareto_front'] else ''} | {gate} |"
        )
    if plot_pareto(pareto, run_dir / "pareto.png") is not None:
        lines += ["", "![translation vs general](pareto.png)"]
    return lines


def cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
