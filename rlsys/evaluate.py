"""Evaluation of a model folder: translation, IF-MT, instructions, math, code, and an optional judge.

Why: the Tower+ stages are judged by what each one does to translation quality and general
skills, so every stage's model is evaluated the same way (`rlsys eval`, and after each stage of
`rlsys pipeline`, whose summary puts the stages on a translation-vs-general Pareto plot). Eval
rows use the RL row format, so any RL file can serve as an eval set.

How:
- Generation goes through the rollout backends the RL stage uses (actors/rollout.py,
  `eval.backend`: hf or vllm, with `tensor_parallel_size`, `batch_size`, dtype `auto` = bfloat16
  on a GPU, float32 on CPU): one engine per model, greedy answers (temperature 0) for every set,
  then `samples_per_prompt` sampled answers (at `temperature`) for math and code sets when
  pass@k is asked for. Prompts go through the tokenizer's chat template; a prompt of
  `max_model_len` tokens or more is an error naming its row.
- Scoring is rlsys/eval_metrics.py (no model needed, tested apart): chrF, BLEU (and COMET /
  CometKiwi through the QE reward server, rlsys/qe_server.py) per language pair; IFEval-style
  strict and loose accuracies; IF-MT rule adherence plus chrF; math and code accuracy and pass@k;
  `judge` sets through an OpenAI-compatible LLM judge (rlsys/judge.py) when `eval.judge` is set.
- Metrics are flat, `<set>/<metric>` (e.g. `translation/chrf`, `math/pass@4`). With
  `output_dir`, `eval.json` (metrics, notes, config), `eval.md` (the report, rlsys/eval_report.py)
  and `samples.jsonl` (every prompt, answer and its per-row scores) are written there.

What is skipped is said, never silently zero: COMET without a QE environment, judge sets without
a judge, rows a reward could not judge (`unscored`).

Not covered: data-parallel evaluation over several engines, multi-turn generation (a multi-turn
row's earlier assistant turns are given, only the last answer is generated), reasoning-trace
stripping.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlsys.core.config import RolloutConfig
from rlsys.core.data import DataError, Records, check_prompt, load_records
from rlsys.core.pipeline_config import EvalConfig
from rlsys.eval_metrics import EvalError, TaskScore, score_ifmt, score_instructions, score_translation, score_verified
from rlsys.eval_report import markdown_table, write_report

__all__ = ["EvalError", "EvalSet", "evaluate", "generate", "load_sets", "markdown_table", "score"]

TASK_COLUMNS = {
    "translation": "reference",
    "ifmt": "constraints",
    "instructions": "constraints",
    "math": "answer",
    "code": "tests",
    "judge": "baseline",
}
SAMPLED_TASKS = ("math", "code")


@dataclass
class EvalSet:
    key: str  # "translation" or "translation:label"
    path: Path
    rows: list[dict[str, Any]]
    records: Records

    @property
    def task(self) -> str:
        return self.key.partition(":")[0]

    def where(self, index: int) -> str:
        return self.records.where(index)


def load_sets(cfg: EvalConfig) -> list[EvalSet]:
    """Read every eval set (first `cfg.limit` rows) and check each row's prompt and task column."""
    sets = []
    for key, path in cfg.data.items():
        records = load_records(path)
        rows = [dict(records[i]) for i in range(min(len(records), cfg.limit or len(records)))]
        eval_set = EvalSet(key, Path(path), rows, records)
        column = TASK_COLUMNS[eval_set.task]
        for i, row in enumerate(rows):
            check_prompt(row.get("prompt"), eval_set.where(i), "prompt")
            if row.get(column) is None:
                raise DataError(f"a {eval_set.task} eval row needs it", field=column, where=eval_set.where(i))
        sets.append(eval_set)
    return sets


# ---------------------------------------------------------------- generation (actors/rollout.py)


def resolve_dtype(name: str) -> str:
    if name != "auto":
        return name
    import torch

    return "bfloat16" if torch.cuda.is_available() else "float32"


def rollout_config(cfg: EvalConfig) -> RolloutConfig:
    """The rollout engine settings of an evaluation: greedy by default, one answer per prompt."""
    return RolloutConfig(
        backend=cfg.backend,
        samples_per_prompt=1,
        max_new_tokens=cfg.max_new_tokens,
        max_model_len=cfg.max_model_len,
        temperature=0.0,
        top_p=cfg.top_p,
        tensor_parallel_size=cfg.tensor_parallel_size,
        hf_batch_size=cfg.batch_size,
        gpu_memory_utilization=cfg.gpu_memory_utilization,
    )


def check_lengths(model_dir: str, prompts: list[Any], cfg: EvalConfig, where: list[str] | None) -> None:
    """Every prompt must leave room to answer; the error names the row (before any model loads)."""
    from transformers import AutoTokenizer

    from actors.rollout import render_prompt

    if not Path(model_dir).is_dir():
        raise FileNotFoundError(f"model folder {model_dir!r} does not exist")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    for i, prompt in enumerate(prompts):
        length = len(render_prompt(tokenizer, prompt, use_chat_template=True))
        if length >= cfg.max_model_len:
            name = where[i] if where else f"prompt {i + 1}"
            raise EvalError(
                f"{name}: the prompt has {length} tokens, not less than max_model_len ({cfg.max_model_len})"
            )


@contextlib.contextmanager
def engine(model_dir: str, cfg: EvalConfig):
    """A rollout worker for `model_dir`, shut down afterwards (also on error)."""
    from actors.rollout import RolloutWorker

    worker = RolloutWorker(model_dir, rollout_config(cfg), seed=cfg.seed, dtype=resolve_dtype(cfg.dtype))
    try:
        yield worker
    finally:
        worker.shutdown()


def generate(model_dir: str, prompts: list[Any], cfg: EvalConfig, *, where: list[str] | None = None) -> list[str]:
    """Greedy completion text for each prompt (a string or chat messages); `where` names each
    prompt's row in errors."""
    check_lengths(model_dir, prompts, cfg, where)
    with engine(model_dir, cfg) as worker:
        return [s.completion for s in worker.generate(prompts, 1, temperature=0.0)]


def _samples(worker: Any, prompts: list[Any], n: int, temperature: float) -> list[list[str]]:
    groups: list[list[str]] = [[] for _ in prompts]
    for s in worker.generate(prompts, n, temperature=temperature):
        groups[s.prompt_index].append(s.completion)
    return groups


# ---------------------------------------------------------------- scoring


def score(
    task: str,
    rows: list[dict[str, Any]],
    outputs: list[str],
    *,
    where: list[str] | None = None,
    samples: list[list[str]] | None = None,
    cfg: EvalConfig | None = None,
    qe: Any = None,
) -> TaskScore:
    """Score one set's outputs (rlsys/eval_metrics.py); `where` names each row in errors (default:
    its index); `samples` are the sampled answers of math / code rows for pass@k."""
    if len(rows) != len(outputs):
        raise ValueError(f"{len(rows)} rows but {len(outputs)} outputs")
    where = where or [f"row {i + 1}" for i in range(len(rows))]
    if task == "translation":
        return score_translation(rows, outputs, where, qe)
    if task == "ifmt":
        return score_ifmt(rows, outputs, where, qe)
    if task == "instructions":
        return score_instructions(rows, outputs, where)
    if task in SAMPLED_TASKS:
        ks = cfg.pass_k if cfg else (1,)
        return score_verified(task, rows, outputs, where, samples, ks)
    if task == "judge":
        from rlsys.judge import score_judge

        if cfg is None or cfg.judge is None:
            raise EvalError("judge sets need eval.judge (an OpenAI-compatible endpoint)")
        return score_judge(rows, outputs, where, cfg.judge)
    raise ValueError(f"unknown eval task {task!r}; expected one of {', '.join(TASK_COLUMNS)}")


# ---------------------------------------------------------------- the whole evaluation


def evaluate(model_dir: str, cfg: EvalConfig, *, qe: Any = None) -> dict[str, float]:
    """Generate for every set in `cfg.data`, score, and write a report if `cfg.output_dir`.

    `qe`: a running rlsys.qe_server.QEService (a pipeline shares one across its evaluations);
    default: one for this call from `cfg.qe`, if set."""
    sets = load_sets(cfg)
    notes: list[str] = []
    if cfg.judge is None and any(s.task == "judge" for s in sets):
        notes.append("judge sets skipped: no eval.judge (an OpenAI-compatible endpoint) in the config")
        sets = [s for s in sets if s.task != "judge"]
    where = [s.where(i) for s in sets for i in range(len(s.rows))]
    prompts = [row["prompt"] for s in sets for row in s.rows]
    check_lengths(model_dir, prompts, cfg, where)
    sampled = [s for s in sets if s.task in SAMPLED_TASKS] if cfg.samples_per_prompt > 1 else []
    with engine(model_dir, cfg) as worker:
        outputs = [s.completion for s in worker.generate(prompts, 1, temperature=0.0)] if prompts else []
        samples = {
            s.key: _samples(worker, [r["prompt"] for r in s.rows], cfg.samples_per_prompt, cfg.temperature)
            for s in sampled
        }
    if qe is None and any(s.task in ("translation", "ifmt") for s in sets):
        from rlsys.qe_server import qe_service

        with qe_service(cfg.qe) as service:
            return _score_and_report(model_dir, cfg, sets, outputs, samples, where, service, notes)
    return _score_and_report(model_dir, cfg, sets, outputs, samples, where, qe, notes)


def _score_and_report(
    model_dir: str,
    cfg: EvalConfig,
    sets: list[EvalSet],
    outputs: list[str],
    samples: dict[str, list[list[str]]],
    where: list[str],
    qe: Any,
    notes: list[str],
) -> dict[str, float]:
    metrics: dict[str, float] = {}
    records: list[dict[str, Any]] = []
    start = 0
    for s in sets:
        chunk, places = outputs[start : start + len(s.rows)], where[start : start + len(s.rows)]
        start += len(s.rows)
        result = score(s.task, s.rows, chunk, where=places, samples=samples.get(s.key), cfg=cfg, qe=qe)
        metrics.update({f"{s.key}/{name}": value for name, value in result.metrics.items()})
        notes += [note for note in result.notes if note not in notes]  # e.g. the QE note once, not per set
        groups: Sequence[list[str] | None] = samples.get(s.key) or [None] * len(s.rows)
        for row, out, w, detail, group in zip(s.rows, chunk, places, result.per_row, groups, strict=True):
            record = {"set": s.key, "where": w, "prompt": row["prompt"], "output": out, **detail}
            if group is not None:
                record["samples"] = group
            records.append(record)
    if cfg.output_dir:
        write_report(cfg.output_dir, metrics, records, model_dir=model_dir, cfg=cfg, notes=notes)
    return metrics


def read_report(out_dir: str | Path) -> dict[str, Any]:
    """eval.json of a finished evaluation."""
    return json.loads((Path(out_dir) / "eval.json").read_text(encoding="utf-8"))
