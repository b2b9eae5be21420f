"""Stage and pipeline configs (`rlsys pipeline`: CPT -> SFT -> WPO/DPO -> curate -> GRPO) and the
evaluation config (`rlsys eval`); the RL job's sections and the loading helpers are in
rlsys/core/config.py, which these build on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from rlsys.core.config import (
    ClusterConfig,
    LearnerConfig,
    ModelConfig,
    RewardsConfig,
    RLConfig,
    RLSections,
    RolloutConfig,
    RunConfig,
    Section,
)

# ---------------------------------------------------------------- stage pipeline (Tower+: CPT → SFT → WPO → RL)

MODE_KINDS: dict[str, tuple[str, ...]] = {
    "cpt": ("text", "parallel"),
    "sft": ("chat", "parallel_chat"),
    "dpo": ("preference",),
    "wpo": ("preference",),
}
"""Data kinds each supervised mode trains on (see pretrain_sft/formatting.py)."""


class SourceConfig(Section):
    path: str
    """JSONL, Parquet or a `datasets` save_to_disk folder."""
    weight: float = Field(1.0, ge=0)
    """This source's share of the stage's data, normalized over sources: a share of the TOKENS
    with the stage's `mix_by: tokens` (the default for cpt), of the EXAMPLES with `mix_by:
    examples` (the default for sft, dpo, wpo); see pretrain_sft/mixing.py. 0 leaves it out."""
    kind: Literal["auto", "text", "parallel", "parallel_chat", "chat", "preference"] = "auto"
    """Row format; `auto` reads it from the columns (parallel rows become `parallel_chat` in sft)."""
    name: str | None = None
    """Name in metrics and errors (default: the file name without its suffix)."""
    language_names: dict[str, str] = {}
    """Extra language names for parallel rows' codes, e.g. {qaa: Toyish} (codes beyond the
    built-in table in rewards/languages.py)."""

    @property
    def label(self) -> str:
        return self.name or Path(self.path).stem


class SupervisedStage(Section):
    """Fields shared by the cpt, sft, dpo and wpo stages (torch or DeepSpeed; one process, or
    `learner.num_workers` Ray actors placed as `cluster` says)."""

    type: Literal["cpt", "sft", "dpo", "wpo"]
    name: str | None = None
    """Folder name `<i>_<name>` under `<run>/stages/` (default: the stage type)."""
    sources: list[SourceConfig] = Field(min_length=1)
    max_tokens: int = Field(2048, ge=8)
    """Most tokens in one example: a document, a conversation, or a prompt plus its longer completion."""
    on_overlength: Literal["truncate", "error", "drop", "split"] | None = None
    """What to do with a longer example (pretrain_sft/examples.py); default `split` for cpt,
    `truncate` otherwise."""
    examples_per_step: int = Field(64, ge=1)
    """Examples (documents, conversations or pairs) per optimizer step; they are packed into
    micro-batches of at most `learner.micro_batch_tokens` tokens and the loss is normalized over
    the whole step."""
    steps: int | None = Field(None, ge=1)
    """Optimizer steps; default: `epochs` passes over the mixture."""
    epochs: float = Field(1.0, gt=0)
    validation_fraction: float = Field(0.0, ge=0, lt=1)
    """Share of each source's examples held out for the validation loss at the end of the stage."""
    checkpoint_every: int = Field(0, ge=0)
    """Save an in-stage checkpoint every N steps (0: none); a stage that is interrupted continues
    from its newest one. They are deleted once the stage has exported its model."""
    keep_checkpoints: int = Field(1, ge=1)
    mix_by: Literal["tokens", "examples"] | None = None
    """What source weights share out: `tokens` (a weight of 0.33 gives the source 33 % of the
    epoch's tokens, however long its rows are: the Tower+ CPT split is a token split) or
    `examples` (33 % of the rows). Default: tokens for cpt, examples for the other stages."""
    learner: LearnerConfig = LearnerConfig()
    cluster: ClusterConfig = ClusterConfig()
    """Used when `learner.num_workers` > 1: the ranks are Ray actors with `learner_cpus` and
    `gpus_per_learner` each, on the running Ray instance, `address`, or a local one. With one
    worker the stage runs in this process."""

    @property
    def mixing(self) -> str:
        """`mix_by` with its default filled in."""
        return self.mix_by or ("tokens" if self.type == "cpt" else "examples")

    @model_validator(mode="after")
    def _check_supervised(self) -> SupervisedStage:
        labels = [s.label for s in self.sources]
        if len(set(labels)) != len(labels):
            raise ValueError(f"sources have the same name ({labels}); give each a distinct `name`")
        if not any(s.weight > 0 for s in self.sources):
            raise ValueError("at least one source needs a weight > 0")
        for s in self.sources:
            if s.kind != "auto" and s.kind not in MODE_KINDS[self.type]:
                expected = " or ".join(MODE_KINDS[self.type])
                raise ValueError(
                    f"source {s.label!r}: kind {s.kind!r} does not fit a {self.type} stage (expected {expected})"
                )
        if self.learner.num_workers > 1 and self.cluster.type == "inline":
            raise ValueError(
                "cluster.type inline runs one learner process: learner.num_workers must be 1 (or use cluster.type ray)"
            )
        pair = self.type in ("dpo", "wpo")
        if pair and self.on_overlength == "split":
            raise ValueError("on_overlength 'split' cuts documents; it does not apply to preference pairs")
        need = 2 * self.max_tokens if pair else self.max_tokens
        if self.learner.micro_batch_tokens < need:
            what = "2 * max_tokens (a padded pair)" if pair else "max_tokens"
            raise ValueError(
                f"learner.micro_batch_tokens ({self.learner.micro_batch_tokens}) must be at least "
                f"{what} ({need}) so every example fits"
            )
        return self


class CPTStage(SupervisedStage):
    """Continued pretraining: causal LM loss on every token of packed documents."""

    type: Literal["cpt"]


class SFTStage(SupervisedStage):
    """Supervised fine-tuning: loss on the assistant tokens of packed conversations."""

    type: Literal["sft"]


class DPOStage(SupervisedStage):
    """Preference optimization against the frozen stage-start model (DPO)."""

    type: Literal["dpo"]
    beta: float = Field(0.1, gt=0)
    label_smoothing: float = Field(0.0, ge=0, lt=0.5)
    """Conservative DPO: the assumed share of mislabeled pairs."""
    rpo_alpha: float = Field(0.0, ge=0)
    """Weight of an SFT (NLL) term on the chosen completions; 0: none."""
    reference: Literal["precomputed", "model"] = "precomputed"
    """`precomputed`: the stage-start model scores every pair once before training (no second
    model in memory); `model`: a frozen copy scores each micro-batch on the fly."""


class WPOStage(DPOStage):
    """DPO with WPO pair weights (Zhou et al. 2024), as Tower+ uses."""

    type: Literal["wpo"]  # type: ignore[assignment]
    wpo_alignment: Literal["sampled", "greedy", "none"] = "sampled"
    """Weight alignment (pretrain_sft/losses.py); `sampled` is what the authors' trainer computes."""
    wpo_clamp_max: float | None = Field(1.0, gt=0)
    """Clamp pair weights at this value (the authors' trainer: 1); null: no clamp."""


class GRPOStage(RLSections):
    """The RL stage: the sections of an `rlsys train` config except run and model."""

    type: Literal["grpo"]
    name: str | None = None
    """Folder name `<i>_<name>` under `<run>/stages/` (default: grpo)."""

    def rl_config(self, model: ModelConfig, run: RunConfig) -> RLConfig:
        sections = {k: getattr(self, k) for k in RLSections.model_fields}
        return RLConfig.model_validate({"run": run, "model": model, **sections})


class CurateSource(Section):
    path: str
    """Prompts with their reward columns (RL row format): JSONL, Parquet or a `datasets` folder."""
    domain: str | None = None
    """Domain of every row (translation, math, code, instructions, ...); default: the row's
    `domain` column, else its reward's domain (rlsys/curate_select.py)."""
    name: str | None = None
    """Name in the outputs and the report (default: the file name without its suffix)."""
    prompt_key: str = "prompt"
    limit: int | None = Field(None, ge=1)
    """Use only the first N rows."""

    @property
    def label(self) -> str:
        return self.name or Path(self.path).stem


class CurateModel(Section):
    path: str | None = None
    """A model folder; null: the model being curated for (the pipeline's current model, or
    `model.path` of `rlsys curate`)."""
    name: str | None = None
    """Name in the outputs (default: `policy` for the null path, else the folder name)."""


class CurateFilters(Section):
    """What a candidate must pass to be chosen (rlsys/curate_select.py says each rule exactly)."""

    dedupe: Literal["none", "exact", "normalized"] = "normalized"
    """Prompts dropped before generation: identical JSON (`exact`), or also identical text after
    normalization (case, punctuation, spacing: `normalized`)."""
    drop_truncated: bool = True
    """Answers cut at `rollout.max_new_tokens` cannot be chosen."""
    min_chars: int = Field(1, ge=0)
    max_chars: int | None = Field(None, ge=1)
    language: bool = True
    """Answers the offline language detector places in another language than the row's
    `language` (or a translation row's `tgt_lang`) cannot be chosen."""
    translation_guards: bool = False
    """Also run rewards.translation_guards (source copies, wrong language, length ratio, chatter)
    on translation answers."""


class CurateSections(Section):
    """What `rlsys curate` and a pipeline's curate stage share: best-of-n generation with the
    rollout engines, reward ranking with the reward workers, filters, selection and quotas."""

    sources: list[CurateSource] = Field(min_length=1)
    models: list[CurateModel] = [CurateModel()]
    """Systems that answer every prompt; pairs may take their chosen and rejected answers from
    different systems."""
    cluster: ClusterConfig = ClusterConfig(type="inline")
    """`inline`: one engine in this process; `ray`: `rollout.num_workers` rollout actors and a
    reward actor, as the RL stage places them."""
    rollout: RolloutConfig = RolloutConfig(samples_per_prompt=4)
    """Engine and sampling settings; `samples_per_prompt` answers per prompt and model."""
    rewards: RewardsConfig = RewardsConfig()
    """How rows are scored: the rewards they name, locally or on reward servers (`remote`)."""
    qe: QEConfig | None = None
    """COMET / CometKiwi for rows whose reward is `comet` / `comet_qe`: a QE reward server
    (started from `.venv-qe` for the checkpoints given, or `qe.url`), added to `rewards.remote`."""
    filters: CurateFilters = CurateFilters()
    sft_min_score: float | dict[str, float] = 0.5
    """Least score of the best answer for it to become an SFT row: one number, or per domain
    ({translation: 0.6, math: 1.0, default: 0.5})."""
    pair_min_margin: float = Field(0.1, ge=0)
    """Least chosen - rejected score difference for a preference pair."""
    quota: dict[str, float] = {}
    """Share of the output rows per domain ({translation: 0.4, math: 0.2, instructions: 0.4});
    domains left out are dropped. Empty: every kept row."""
    max_sft_rows: int | None = Field(None, ge=1)
    max_pairs: int | None = Field(None, ge=1)
    shard_prompts: int = Field(64, ge=1)
    """Prompts per shard: the unit of work that a resumed run does not redo."""

    @model_validator(mode="after")
    def _check_curate(self) -> CurateSections:
        names = [m.name or (Path(m.path).name if m.path else "policy") for m in self.models]
        if len(set(names)) != len(names):
            raise ValueError(f"models have the same name ({names}); give each a distinct `name`")
        labels = [s.label for s in self.sources]
        if len(set(labels)) != len(labels):
            raise ValueError(f"sources have the same name ({labels}); give each a distinct `name`")
        if any(v < 0 for v in self.quota.values()) or (self.quota and not any(self.quota.values())):
            raise ValueError(f"quota shares must be >= 0 with at least one > 0, got {self.quota}")
        for name, url in self.rewards.remote.items():
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"rewards.remote.{name}: {url!r} is not an http(s) URL")
        return self

    def model_names(self) -> list[str]:
        return [m.name or (Path(m.path).name if m.path else "policy") for m in self.models]


class CurateStage(CurateSections):
    """A pipeline stage that writes data for the next stages (`<stage folder>/sft.jsonl`,
    `pairs.jsonl`) and hands its input model on unchanged."""

    type: Literal["curate"]
    name: str | None = None
    """Folder name `<i>_<name>` under `<run>/stages/` (default: curate)."""


class CurateConfig(CurateSections):
    """`rlsys curate`: the curate stage alone; outputs go to `run.output_dir`."""

    run: RunConfig = RunConfig(output_dir="runs/curate")
    model: ModelConfig
    """The model that answers (with `models` entries that have no path)."""


StageConfig = Annotated[
    CPTStage | SFTStage | DPOStage | WPOStage | GRPOStage | CurateStage, Field(discriminator="type")
]


class PipelineConfig(Section):
    """The Tower+ recipe as stages run in order (`rlsys pipeline`); each stage starts from the
    previous stage's exported model, the first from `model.path`."""

    run: RunConfig = RunConfig()
    model: ModelConfig
    stages: list[StageConfig] = Field(min_length=1)
    eval: EvalConfig | None = None
    """Evaluation of the base model and of every stage's model (rlsys/evaluate.py); null: none.
    Each report goes to `<stage folder>/eval/` (or `<eval.output_dir>/<stage folder name>/`)."""
    check_data_first: bool = True
    """Read and tokenize every pending stage's data before the first stage trains, so a bad row in
    the last stage fails in seconds rather than after the first stages (costs one extra pass)."""

    def stage_name(self, index: int) -> str:
        """`<i>_<name>` (1-based), the stage's folder under `<run>/stages/`."""
        stage = self.stages[index - 1]
        return f"{index}_{stage.name or stage.type}"


# ---------------------------------------------------------------- evaluation (rlsys/evaluate.py)

EVAL_TASKS = ("translation", "ifmt", "instructions", "math", "code", "judge")
"""What `EvalConfig.data` keys name (rlsys/evaluate.py): translation (chrF and BLEU vs `reference`,
COMET with `eval.qe`), ifmt (translation with checkable rules: `constraints` and chrF), instructions
(IFEval-style `constraints`, strict and loose), math (the `math` reward vs `answer`), code (the
`code` reward on `tests`), judge (pairwise LLM judgment against a `baseline` answer; needs `eval.judge`)."""


class QEConfig(Section):
    """COMET / CometKiwi scores of translation and ifmt sets, computed by the reward server running in
    the QE environment (unbabel-comet needs transformers<5: it cannot run in this process)."""

    url: str | None = None
    """A running reward server (`python -m rewards.service` under .venv-qe) serving `comet` and/or
    `comet_qe`, e.g. http://127.0.0.1:8100. Unset: evaluation starts one for the models below."""
    comet_model: str | None = None
    """COMET checkpoint (scored with the reference): `translation/comet`."""
    qe_model: str | None = None
    """CometKiwi-style checkpoint (source only, no reference): `translation/comet_qe`."""
    python: str = ".venv-qe/bin/python"
    """The QE environment's interpreter; when it does not exist COMET is skipped with a note in the report."""
    startup_timeout_s: float = Field(300.0, gt=0)

    @model_validator(mode="after")
    def _check_qe(self) -> QEConfig:
        if self.url is None and self.comet_model is None and self.qe_model is None:
            raise ValueError("eval.qe needs a url or at least one of comet_model / qe_model")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"eval.qe.url {self.url!r} is not an http(s) URL")
        return self


class JudgeConfig(Section):
    """An OpenAI-compatible chat endpoint (a vLLM server, a hosted API) that judges `judge` sets
    pairwise against their `baseline` answers, Arena-Hard style (rlsys/judge.py). Off unless set."""

    url: str
    """Base URL of the API, e.g. http://127.0.0.1:8000/v1 (POST {url}/chat/completions)."""
    model: str
    """Model name sent in each request."""
    api_key_env: str | None = None
    """Environment variable holding the API key (sent as a bearer token); unset: no key."""
    max_tokens: int = Field(1024, ge=1)
    timeout_s: float = Field(120.0, gt=0)
    concurrency: int = Field(4, ge=1)
    """Judgments in flight at once."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value


class ParetoConfig(Section):
    """The translation-vs-general view of a pipeline run (pipeline_summary.md, pareto.png) and the
    regression gate. Scores are means of metrics on a 0-1 scale (chrF and BLEU are divided by 100)."""

    translation_metrics: list[str] = []
    """Metrics averaged into the translation score; default: every translation set's `chrf`."""
    general_metrics: list[str] = []
    """Metrics averaged into the general score; default: every instructions set's strict
    `prompt_accuracy`, math and code sets' `accuracy` and judge sets' `win_rate`."""
    max_translation_drop: float = Field(0.02, ge=0)
    """A stage whose translation score is lower than its input model's by more than this is flagged."""
    max_general_drop: float = Field(0.02, ge=0)
    """Likewise for the general score."""


class EvalConfig(Section):
    """Evaluation of one model folder (`rlsys eval`, and `eval` of a pipeline): greedy answers for
    every set, plus sampled answers for pass@k on math and code sets."""

    data: dict[str, str] = Field(min_length=1)
    """Eval sets as {task: path}; a task is one of EVAL_TASKS, optionally `task:label` to keep
    several sets of one task apart (`translation:flores`). Rows use the RL row format:
    {"prompt", "reference" | "answer" | "constraints" | "tests" | "baseline", ...}."""
    backend: Literal["hf", "vllm"] = "hf"
    """Generation backend (actors/rollout.py): `hf` (transformers, robust for tiny and unusual
    models) or `vllm` (faster at scale)."""
    max_new_tokens: int = Field(256, ge=1)
    max_model_len: int = Field(2048, ge=16)
    """Prompt plus completion tokens; a longer prompt is an error naming its row."""
    limit: int | None = Field(None, ge=1)
    """Score only the first N rows of each set."""
    batch_size: int = Field(16, ge=1)
    """Prompts per `generate` call (hf backend)."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """`auto`: bfloat16 on a GPU, float32 on CPU."""
    tensor_parallel_size: int = Field(1, ge=1)
    """GPUs per vLLM engine (vllm backend)."""
    gpu_memory_utilization: float = Field(0.85, gt=0, le=1)
    samples_per_prompt: int = Field(1, ge=1)
    """Sampled answers per math / code prompt for pass@k (greedy answers give `accuracy`);
    1: no sampling. Must be at least the largest `pass_k`."""
    pass_k: list[int] = [1]
    """k values reported as `pass@k` (Chen et al. 2021's unbiased estimator over the samples)."""
    temperature: float = Field(0.8, gt=0)
    """Sampling temperature of the pass@k samples."""
    top_p: float = Field(1.0, gt=0, le=1)
    qe: QEConfig | None = None
    """COMET / CometKiwi through the QE reward server; null: chrF and BLEU only."""
    judge: JudgeConfig | None = None
    """LLM judge for `judge` sets; null: those sets are skipped (said so in the report)."""
    pareto: ParetoConfig = ParetoConfig()
    """Translation / general scores and the regression gate of a pipeline run."""
    output_dir: str | None = None
    """Write eval.json, eval.md and samples.jsonl here; null: return the metrics only."""
    seed: int = 0

    @field_validator("data")
    @classmethod
    def _tasks(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if key.partition(":")[0] not in EVAL_TASKS:
                raise ValueError(
                    f"eval set {key!r}: the task must be one of {', '.join(EVAL_TASKS)} (optionally 'task:label')"
                )
        return value

    @model_validator(mode="after")
    def _check_sampling(self) -> EvalConfig:
        if not self.pass_k or min(self.pass_k) < 1:
            raise ValueError(f"pass_k must be a non-empty list of k >= 1, got {self.pass_k}")
        if self.samples_per_prompt > 1 and max(self.pass_k) > self.samples_per_prompt:
            raise ValueError(
                f"pass@{max(self.pass_k)} needs samples_per_prompt >= {max(self.pass_k)} "
                f"(got {self.samples_per_prompt})"
            )
        return self
