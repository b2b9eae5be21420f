"""Greedy evaluation of a model folder: translation chrF, math accuracy, instruction accuracy.

Why: the Tower+ stages are judged by what each one does to translation quality and general
tasks, so every stage's checkpoint is evaluated the same way (`rlsys eval`, and after each stage
of `rlsys pipeline`). Eval rows use the RL row format, so any RL file can serve as an eval set.

How (two halves, tested apart):
- `generate(model_dir, prompts, cfg)`: greedy completions. Prompts go through the tokenizer's
  chat template (actors.rollout.render_prompt, as in RL rollouts) and stop at the generation
  config's end-of-turn / EOS ids. Backend `hf` (transformers `generate`, batched, left padding)
  or `vllm` (temperature 0, in-process engine, shut down afterwards).
- `score(task, rows, outputs)`: no model needed.
  - translation: sacrebleu corpus chrF (0-100) of the outputs against `reference` (a string or a
    list: several references per row); per language pair too when rows carry src_lang/tgt_lang.
  - math: the registered `math` reward (math-verify, via rewards.registry.score) against
    `answer`; accuracy over the rows it could judge; rows with status error/timeout are counted
    in `unscored`, never as silent zeros.
  - instructions: rewards.instructions.check_constraints on `constraints` and, for multi-turn
    rows, the `turn_constraints` still in force at the prompt's last user turn (every turn is
    read; see rewards.instructions.conversation); `constraint_accuracy` is the share of all
    constraints satisfied (IFEval's instruction-level accuracy), `prompt_accuracy` the share of
    rows with every constraint satisfied.
Metrics are named `<set>/<metric>`, e.g. `translation/chrf`, `math/accuracy`.
`evaluate(model_dir, cfg)` runs both over every set of `cfg.data` with one engine and, when
`cfg.output_dir` is set, writes `eval.json`, `eval.md` and `samples.jsonl` there.

Not covered: sampling-based metrics (pass@k), COMET (use the QE reward server), multi-turn
prompts beyond what the chat template renders, models that need several GPUs with the hf backend
(use vllm with tensor_parallel_size), data-parallel evaluation.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlsys.core.config import EvalConfig
from rlsys.core.data import DataError, Records, check_prompt, load_records

TASK_COLUMNS = {"translation": "reference", "math": "answer", "instructions": "constraints"}


class EvalError(ValueError):
    """Evaluation cannot go on; the message names the set, file or row."""


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


@dataclass
class TaskScore:
    metrics: dict[str, float]
    per_row: list[dict[str, Any]] = field(default_factory=list)  # one dict per row, for samples.jsonl


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


# ---------------------------------------------------------------- generation


def _dtype(name: str) -> str:
    if name != "auto":
        return name
    import torch

    return "bfloat16" if torch.cuda.is_available() else "float32"


def generate(model_dir: str, prompts: list[Any], cfg: EvalConfig, *, where: list[str] | None = None) -> list[str]:
    """Greedy completion text for each prompt (a string or chat messages); `where` names each
    prompt's row in errors."""
    from transformers import AutoTokenizer, GenerationConfig

    from actors.rollout import render_prompt, stop_token_ids

    if not Path(model_dir).is_dir():
        raise FileNotFoundError(f"model folder {model_dir!r} does not exist")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    try:
        stop_ids = stop_token_ids(tokenizer, GenerationConfig.from_pretrained(model_dir))
    except OSError:  # no generation_config.json
        stop_ids = stop_token_ids(tokenizer)
    prompt_ids = []
    for i, prompt in enumerate(prompts):
        ids = render_prompt(tokenizer, prompt, use_chat_template=True)
        if len(ids) >= cfg.max_model_len:
            name = where[i] if where else f"prompt {i + 1}"
            raise EvalError(f"{name}: the prompt has {len(ids)} tokens, not less than max_model_len ({cfg.max_model_len})")
        prompt_ids.append(ids)
    if cfg.backend == "vllm":
        completions = _generate_vllm(model_dir, prompt_ids, stop_ids, cfg)
    else:
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop_ids[0]
        completions = _generate_hf(model_dir, prompt_ids, stop_ids, cfg, pad_id)
    return [tokenizer.decode(ids, skip_special_tokens=True) for ids in completions]


def _until_stop(ids: list[int], stop_ids: list[int]) -> list[int]:
    for j, token in enumerate(ids):
        if token in stop_ids:
            return ids[:j]
    return ids


def _generate_hf(
    model_dir: str, prompt_ids: list[list[int]], stop_ids: list[int], cfg: EvalConfig, pad_id: int
) -> list[list[int]]:
    """Batches of similar-length prompts, left-padded, greedy; completion ids without stop tokens."""
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, _dtype(cfg.dtype))).to(device).eval()
    order = sorted(range(len(prompt_ids)), key=lambda i: len(prompt_ids[i]))
    out: list[list[int]] = [[] for _ in prompt_ids]
    for start in range(0, len(order), cfg.batch_size):
        batch = order[start : start + cfg.batch_size]
        width = max(len(prompt_ids[i]) for i in batch)
        pads = [width - len(prompt_ids[i]) for i in batch]
        input_ids = torch.tensor([[pad_id] * p + prompt_ids[i] for p, i in zip(pads, batch)], device=device)
        mask = torch.tensor([[0] * p + [1] * (width - p) for p in pads], device=device)
        gen = GenerationConfig(do_sample=False, max_new_tokens=min(cfg.max_new_tokens, cfg.max_model_len - width),
                               eos_token_id=stop_ids, pad_token_id=pad_id)
        with torch.no_grad():
            sequences = model.generate(input_ids=input_ids, attention_mask=mask, generation_config=gen)
        for i, seq in zip(batch, sequences[:, width:].tolist(), strict=True):
            out[i] = _until_stop(seq, stop_ids)
    return out


def _generate_vllm(
    model_dir: str, prompt_ids: list[list[int]], stop_ids: list[int], cfg: EvalConfig
) -> list[list[int]]:
    """One in-process engine at temperature 0, shut down afterwards (also on error)."""
    import torch

    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    os.environ.setdefault("VLLM_CACHE_ROOT", tempfile.mkdtemp(prefix="rlsys-vllm-"))
    from vllm import LLM, SamplingParams

    cuda = torch.cuda.is_available()
    kwargs: dict[str, Any] = dict(model=model_dir, dtype=_dtype(cfg.dtype), max_model_len=cfg.max_model_len,
                                  seed=cfg.seed, enforce_eager=not cuda, tensor_parallel_size=cfg.tensor_parallel_size)
    if cfg.tensor_parallel_size == 1:
        kwargs["distributed_executor_backend"] = "uni"
    if cuda:
        kwargs["gpu_memory_utilization"] = cfg.gpu_memory_utilization
    llm = LLM(**kwargs)
    try:
        params = [SamplingParams(temperature=0.0, max_tokens=min(cfg.max_new_tokens, cfg.max_model_len - len(ids)),
                                 stop_token_ids=stop_ids) for ids in prompt_ids]
        outputs = llm.generate([{"prompt_token_ids": ids} for ids in prompt_ids], params, use_tqdm=False)
        return [_until_stop(list(o.outputs[0].token_ids), stop_ids) for o in outputs]
    finally:
        llm.llm_engine.engine_core.shutdown()


# ---------------------------------------------------------------- scoring


def _references(value: Any, where: str) -> list[str]:
    refs = [value] if isinstance(value, str) else list(value) if isinstance(value, list) else None
    if not refs or not all(isinstance(r, str) for r in refs):
        raise DataError("must be a string or a non-empty list of strings", field="reference", where=where)
    return refs


def score_translation(rows: list[dict[str, Any]], outputs: list[str], where: list[str]) -> TaskScore:
    from sacrebleu.metrics import CHRF

    metric = CHRF()
    refs = [_references(row["reference"], w) for row, w in zip(rows, where, strict=True)]
    metrics = {"chrf": _corpus_chrf(metric, outputs, refs)}
    pairs: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        if isinstance(row.get("src_lang"), str) and isinstance(row.get("tgt_lang"), str):
            pairs.setdefault(f"{row['src_lang']}-{row['tgt_lang']}", []).append(i)
    for pair, idx in sorted(pairs.items()):
        metrics[f"chrf/{pair}"] = _corpus_chrf(metric, [outputs[i] for i in idx], [refs[i] for i in idx])
    metrics["rows"] = float(len(rows))
    per_row = [{"chrf": metric.sentence_score(out, r).score} for out, r in zip(outputs, refs, strict=True)]
    return TaskScore(metrics, per_row)


def _corpus_chrf(metric: Any, outputs: list[str], refs: list[list[str]]) -> float:
    """Corpus chrF; rows with fewer references than others are padded with None (sacrebleu's way)."""
    width = max(len(r) for r in refs)
    streams = [[r[k] if k < len(r) else None for r in refs] for k in range(width)]
    return float(metric.corpus_score(outputs, streams).score)


def score_math(rows: list[dict[str, Any]], outputs: list[str], where: list[str]) -> TaskScore:
    from rewards.registry import get_reward
    from rewards.registry import score as run_reward

    results = run_reward(get_reward("math"), outputs, {"answer": [str(row["answer"]) for row in rows]})
    scored = [r.score for r in results if r.status == "ok"]
    if not scored:
        raise EvalError(f"{where[0]}: the math reward judged no row; first reason: {results[0].reason}")
    unscored = len(rows) - len(scored)
    metrics = {"accuracy": sum(scored) / len(scored), "rows": float(len(rows)), "unscored": float(unscored)}
    return TaskScore(metrics, [{"score": r.score, "status": r.status, "reason": r.reason} for r in results])


def score_instructions(
    rows: list[dict[str, Any]], outputs: list[str], where: list[str], *, loose: bool = False
) -> TaskScore:
    from rewards.instructions import ConstraintError, check_constraints

    per_row, satisfied, total, all_met = [], 0, 0, 0
    for row, out, w in zip(rows, outputs, where, strict=True):
        try:
            passed = check_constraints(out, row["constraints"], prompt=row.get("prompt"), src=row.get("src"),
                                       loose=loose, tgt_lang=row.get("tgt_lang"),
                                       turn_constraints=row.get("turn_constraints"))
        except ConstraintError as exc:
            raise DataError(str(exc), field="constraints", where=w) from None
        if not passed:
            raise DataError("is empty", field="constraints", where=w)
        satisfied, total, all_met = satisfied + sum(passed), total + len(passed), all_met + all(passed)
        per_row.append({"passed": passed})
    metrics = {"constraint_accuracy": satisfied / total, "prompt_accuracy": all_met / len(rows)}
    metrics["rows"] = float(len(rows))
    return TaskScore(metrics, per_row)


def score(task: str, rows: list[dict[str, Any]], outputs: list[str], *, where: list[str] | None = None,
          loose: bool = False) -> TaskScore:
    """Score one set's outputs; `where` names each row in errors (default: its index)."""
    if len(rows) != len(outputs):
        raise ValueError(f"{len(rows)} rows but {len(outputs)} outputs")
    where = where or [f"row {i + 1}" for i in range(len(rows))]
    if task == "translation":
        return score_translation(rows, outputs, where)
    if task == "math":
        return score_math(rows, outputs, where)
    if task == "instructions":
        return score_instructions(rows, outputs, where, loose=loose)
    raise ValueError(f"unknown eval task {task!r}; expected one of {', '.join(TASK_COLUMNS)}")


# ---------------------------------------------------------------- the whole evaluation


def evaluate(model_dir: str, cfg: EvalConfig) -> dict[str, float]:
    """Generate greedily for every set in `cfg.data`, score, and write a report if `cfg.output_dir`."""
    sets = load_sets(cfg)
    where = [s.where(i) for s in sets for i in range(len(s.rows))]
    outputs = generate(model_dir, [row["prompt"] for s in sets for row in s.rows], cfg, where=where)
    metrics: dict[str, float] = {}
    samples: list[dict[str, Any]] = []
    start = 0
    for s in sets:
        chunk, places = outputs[start : start + len(s.rows)], where[start : start + len(s.rows)]
        start += len(s.rows)
        result = score(s.task, s.rows, chunk, where=places, loose=cfg.instructions_mode == "loose")
        metrics.update({f"{s.key}/{name}": value for name, value in result.metrics.items()})
        for row, out, w, detail in zip(s.rows, chunk, places, result.per_row, strict=True):
            samples.append({"set": s.key, "where": w, "prompt": row["prompt"], "output": out, **detail})
    if cfg.output_dir:
        write_report(cfg.output_dir, metrics, samples, model_dir=model_dir, cfg=cfg)
    return metrics


def format_value(name: str, value: float) -> str:
    if name.endswith(("/rows", "/unscored")):
        return str(int(value))
    return f"{value:.2f}" if "/chrf" in name else f"{value:.3f}"


def markdown_table(columns: dict[str, dict[str, float]]) -> str:
    """A markdown table with one row per metric and one column per model or stage."""
    names = list(dict.fromkeys(name for metrics in columns.values() for name in metrics))
    lines = ["| metric | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for name in names:
        cells = [format_value(name, m[name]) if name in m else "" for m in columns.values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(out_dir: str | Path, metrics: dict[str, float], samples: list[dict[str, Any]], *,
                 model_dir: str, cfg: EvalConfig) -> Path:
    """`eval.json` (metrics + settings), `eval.md` (a table) and `samples.jsonl` (every output)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = {"model": str(model_dir), "metrics": metrics, "config": cfg.model_dump(mode="json")}
    (out / "eval.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    title = f"# Evaluation of `{model_dir}`\n\nGreedy decoding, backend `{cfg.backend}`; chrF 0-100, accuracies 0-1.\n\n"
    table = markdown_table({Path(model_dir).name or str(model_dir): metrics})
    (out / "eval.md").write_text(title + table, encoding="utf-8")
    lines = (json.dumps(sample, ensure_ascii=False) + "\n" for sample in samples)
    (out / "samples.jsonl").write_text("".join(lines), encoding="utf-8")
    return out
