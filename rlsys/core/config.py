"""The one typed config for every rlsys job, validated at load.

Importable without torch, vLLM or Ray: the CLI validates a file before any heavy import.
A config is YAML plus `key.sub=value` overrides (values parsed as YAML scalars). Unknown keys
and bad values are rejected with the file and the dotted key named.

Batch fields say what they count: `prompts_per_step` prompts are drawn per RL step and each is
sampled `samples_per_prompt` times; the learner packs sequences into micro-batches of at most
`micro_batch_tokens` tokens.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class ConfigError(ValueError):
    """A config that cannot be used; the message names the file and the key."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class RunConfig(Section):
    name: str = "run"
    """Run name, used in logs and as the default output folder name."""
    output_dir: str = "runs/run"
    """Folder for the resolved config, metrics, TensorBoard events and checkpoints."""
    seed: int = 0


class ModelConfig(Section):
    path: str
    """Local path of a Hugging Face model folder (weights + tokenizer). Nothing is downloaded."""
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    """Learner and rollout dtype. float32 on CPU; bfloat16 on GPUs."""


class ClusterConfig(Section):
    type: Literal["ray", "inline"] = "ray"
    """`ray`: actors on a Ray cluster (a local one is started for the job unless `address`
    is set). `inline`: the same plain classes in this process, for debugging and notebooks."""
    address: str | None = None
    """Address of an existing Ray cluster (`auto`, `ray://...` or `HOST:PORT`)."""
    num_cpus: int | None = None
    """CPUs for a local Ray instance (default: all)."""
    rollout_cpus: float = 1.0
    learner_cpus: float = 1.0
    reward_cpus: float = 0.5
    gpus_per_learner: float = 0.0
    """GPUs per learner rank (Ray shows each rank only its own: `CUDA_VISIBLE_DEVICES`). 0: the
    learner trains on the CPU."""
    gpus_per_rollout: float = 0.0
    """GPUs of each rollout engine; with `rollout.tensor_parallel_size` > 1 it must equal it."""
    placement: Literal["disaggregated", "colocated"] = "disaggregated"
    """`disaggregated`: learners and rollout engines on their own resources (a placement group
    each). `colocated`: rollout engine i shares learner rank i's bundle (its CPUs and GPUs);
    the engine sleeps while the learner trains (vLLM sleep mode frees its GPU memory; on CPU
    it stays awake) and wakes for the weight sync. Needs as many engines as learner ranks."""
    max_worker_restarts: int = Field(3, ge=0)
    """Rollout engines and reward workers (on Ray) whose process died are replaced, given the
    current weights, and their lost request is redone; at most this many replacements per job
    (then the job fails). Counted in the metrics `restarts/rollout` and `restarts/reward`."""


class DataConfig(Section):
    path: str
    """RL prompts: JSONL, Parquet, or a `datasets` folder saved with `save_to_disk`."""
    prompt_key: str = "prompt"
    """Column holding the prompt: a string or a list of chat messages."""
    shuffle: bool = True


class RolloutConfig(Section):
    backend: Literal["vllm", "hf"] = "vllm"
    samples_per_prompt: int = Field(8, ge=1)
    max_new_tokens: int = Field(128, ge=1)
    min_new_tokens: int = Field(0, ge=0)
    """Stop tokens are ignored until this many tokens are generated (capped at max_new_tokens).
    0 for training; `min_new_tokens = max_new_tokens` gives fixed-length samples (benchmarks)."""
    max_model_len: int = Field(512, ge=16)
    temperature: float = Field(1.0, ge=0)
    """Sampling temperature; rollout and learner log-probs are those of softmax(logits / T).
    0 is greedy decoding (evaluation, curation): RL needs > 0."""
    top_p: float = Field(1.0, gt=0, le=1)
    """Nucleus sampling. Below 1 the engine's log-probs are those of the truncated distribution
    it sampled from, the learner's are not (see `algorithm.rollout_correction`)."""
    num_workers: int = Field(1, ge=1)
    use_chat_template: bool = True
    """Render message prompts with the tokenizer's chat template (string prompts too, as one
    user turn). Off: string prompts are tokenized as they are."""
    kv_cache_gib: float = 1.0
    """vLLM CPU KV cache size (VLLM_CPU_KVCACHE_SPACE)."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Rollout engine dtype; `auto` is `model.dtype`. bfloat16 with an fp32 learner (weights
    are cast at each sync) generates ~1.5x faster on CPUs with AVX512-BF16."""
    gpu_memory_utilization: float = 0.5
    """Share of a GPU's memory for one engine's weights and KV cache; with `cluster.placement:
    colocated` leave room for the learner (whose memory the engine can only use while asleep)."""
    tensor_parallel_size: int = Field(1, ge=1)
    """GPUs per vLLM engine (vLLM's tensor parallelism, for models that do not fit one GPU);
    needs `cluster.gpus_per_rollout` equal to it. `num_workers` engines of this size run."""
    weight_transport: Literal["object_store", "collective"] = "object_store"
    """How new weights reach the engines. `object_store`: the state dict through Ray's object
    store (or in-process inline); `collective`: learner rank 0 broadcasts bucketed tensors to
    every engine over a torch.distributed group of their own (NCCL between GPUs, gloo on CPU),
    no host copies in the object store. See README "How weights travel"."""
    prompts_per_request: int | None = Field(None, ge=1)
    """With several engines, prompts go out in requests of this many prompts (all their
    samples), each to the engine with the fewest pending samples, so a slower engine gets
    less. Default: a quarter of an even share, so each engine sees about four requests a step."""
    hf_batch_size: int = Field(16, ge=1)
    """Prompts per transformers `generate` call (hf backend; left-padded, each with all its
    samples). Seeded sampling (RL) goes one prompt at a time so each prompt's seed decides its samples."""


class LearnerConfig(Section):
    strategy: Literal["torch", "deepspeed"] = "torch"
    zero_stage: Literal[0, 1, 2, 3] = 2
    num_workers: int = Field(1, ge=1)
    """Data-parallel learner ranks (Ray actors; each trains on a share of the batch with about as
    many tokens as the others). DeepSpeed ZeRO shards optimizer state (1), gradients (2) and
    weights (3) across them; the torch strategy keeps a full copy per rank and averages gradients."""
    lr: float = Field(1e-6, gt=0)
    lr_schedule: Literal["constant", "linear", "cosine"] = "constant"
    warmup_steps: int = Field(0, ge=0)
    """Optimizer steps of linear warm-up (an RL step makes `algorithm.epochs_per_step` of them)."""
    weight_decay: float = Field(0.0, ge=0)
    adam_betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float = Field(1.0, gt=0)
    micro_batch_tokens: int = Field(4096, ge=16)
    """Most tokens (prompt + completion) packed into one forward pass."""
    gradient_checkpointing: bool = False
    """Recompute each decoder layer's activations in backward instead of keeping them: much less
    activation memory for ~1/3 more compute. Needed for long sequences of multi-billion models."""
    compile: bool = False
    """`torch.compile` each decoder layer (dynamic shapes). Pays off on GPUs over many steps (the
    first steps compile); on CPUs it did not help here (docs/field_notes.md)."""
    logprob_chunk_tokens: int = Field(1024, ge=1)
    """Completion tokens per chunk when computing log-probabilities (bounds logits memory)."""
    threads: int | None = None
    """torch threads in the learner process (default: the CPUs given to it, at least 1)."""
    autocast: Literal["bfloat16", "float16"] | None = None
    """Mixed precision: forward passes under `torch.autocast` in this dtype (matmuls in it),
    while weights, gradients and optimizer state stay in `model.dtype`. On CPUs with
    AVX512-BF16 or AMX, bfloat16 makes the learner step ~1.3x faster (docs/benchmarks.md);
    with a bfloat16 rollout, rollout and learner log-probabilities differ by ~3e-3 per token
    (`logprob_diff_rollout`; ~1e-5 in float32, more with rollout.top_p < 1 or min_new_tokens,
    whose truncated sampling distribution the engine reports)."""


class RolloutCorrectionConfig(Section):
    """Importance-sampling correction with the rollout engine's log-probabilities
    (`rlsys.core.algorithms.rollout_correction`): the engine samples with its own numerics
    (bf16, other kernels, or older weights), so even a synchronous step is slightly off-policy.
    rho_t = pi_learner(y_t) / pi_rollout(y_t), the learner's log-probs at the step's start
    against the engine's. Its metrics (`rollout_is/*`) are logged whatever `type` is."""

    type: Literal["auto", "none", "tis", "mis", "tis_mis"] = "auto"
    """`tis`: truncated IS per token, weight min(rho_t, tis_cap). `mis`: masked IS per sequence,
    weight 0 for a sequence whose geometric-mean ratio is outside [mis_low, mis_high], else 1.
    `tis_mis`: both. `none`: no correction. `auto` (default): `none` for the synchronous loop,
    `ASYNC_ROLLOUT_CORRECTION` for the asynchronous one, whose stale weights make the mismatch
    large (see `resolve`)."""
    tis_cap: float = Field(2.0, gt=0)
    """Upper bound C of the token weights (verl's rollout_is_threshold 2.0; TRL's default 3.0,
    OpenRLHF's 5.0)."""
    mis_low: float = Field(0.5, ge=0, lt=1)
    mis_high: float = Field(2.0, gt=1)
    """Sequences with a geometric-mean ratio outside [mis_low, mis_high] are masked. The default
    (symmetric in log space, +-0.69 mean log-ratio per token) only catches gross mismatch; verl
    suggests 1/1.001 .. 1.001 for its geometric rejection sampling."""

    def resolve(self, asynchronous: bool = False) -> str:
        """The concrete type. The hook for the asynchronous loop: it passes `asynchronous=True`
        (the learner learns it from its config), making `auto` mean `tis` there."""
        if self.type != "auto":
            return self.type
        return ASYNC_ROLLOUT_CORRECTION if asynchronous else "none"


ASYNC_ROLLOUT_CORRECTION = "tis"
"""What `rollout_correction.type: auto` becomes for the asynchronous loop (issue 12 §3)."""


class OverlongConfig(Section):
    """Completions cut at the generation limit (finish reason `length`) have no real ending:
    their reward judges a fragment."""

    mode: Literal["none", "mask", "penalty"] = "none"
    """`mask`: truncated samples stay in their group's statistics but leave the loss (DAPO's
    overlong filtering, TRL's mask_truncated_completions). `penalty`: DAPO's soft overlong
    punishment is added to every known reward: 0 up to max_new_tokens - buffer_tokens
    completion tokens, then linear down to -penalty_factor at max_new_tokens."""
    buffer_tokens: int | None = Field(None, ge=1)
    """Length of the penalty ramp (default: a fifth of rollout.max_new_tokens, DAPO's
    4096 of 20480)."""
    penalty_factor: float = Field(1.0, gt=0)
    """Size of the largest penalty (verl's overlong_buffer.penalty_factor)."""


class DynamicSamplingConfig(Section):
    """DAPO's dynamic sampling: a group whose known rewards are all equal has no learning
    signal; instead of training on fewer groups, draw new prompts until the step has
    `train.prompts_per_step` groups with signal (surplus groups are dropped), at most
    `max_rounds` extra generate calls. Rows drawn for refills advance the prompt stream (the
    checkpoint's data position includes them)."""

    enabled: bool = False
    max_rounds: int = Field(3, ge=1)
    """Extra generate + score rounds per step; a step still short after them trains on the
    groups it has (counted in `dynamic_sampling/short_groups`)."""


POLICY_LOSS_DEFAULTS: dict[str, dict[str, Any]] = {
    "ppo_clip": {"clip_low": 0.2, "clip_high": 0.28, "loss_agg": "token_mean"},
    "gspo": {"clip_low": 3e-4, "clip_high": 4e-4, "loss_agg": "seq_mean_token_mean"},
}
"""Defaults that depend on `policy_loss` (a value set in the config wins): DAPO's clip-higher
and token-mean loss for the token ratio; the GSPO paper's clip range and sequence-mean
objective for the sequence ratio (TRL's GSPO recipe: loss_type="grpo", the same mean)."""


class AlgorithmConfig(Section):
    type: Literal["grpo", "dr_grpo"] = "grpo"
    """Advantage estimator: `grpo` normalizes by the group std, `dr_grpo` does not."""
    policy_loss: Literal["ppo_clip", "gspo"] = "ppo_clip"
    """`ppo_clip`: token-level ratio, asymmetric clip (DAPO). `gspo`: one length-normalized
    ratio per sequence (Zheng et al. 2025); with `loss_agg: seq_mean_token_mean` (its default)
    it is the paper's objective, with `token_mean` TRL's importance_sampling_level="sequence"
    under its default token-level loss (sequences weighted by length)."""
    loss_agg: Literal["token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm"] = "token_mean"
    """How token losses become one number; Dr. GRPO uses `seq_mean_token_sum_norm`. Default per
    `policy_loss` (POLICY_LOSS_DEFAULTS): token_mean for ppo_clip, seq_mean_token_mean for gspo."""
    clip_low: float = Field(0.2, ge=0)
    clip_high: float = Field(0.28, ge=0)
    """Asymmetric clip range [1 - clip_low, 1 + clip_high] of the ratio. Defaults depend on
    `policy_loss` (POLICY_LOSS_DEFAULTS): 0.2 / 0.28 for ppo_clip (clip-higher, DAPO), 3e-4 / 4e-4
    for gspo (its sequence ratio stays much closer to 1)."""
    kl_coef: float = Field(0.0, ge=0)
    """Weight of the KL penalty to the frozen initial model; 0 loads no reference model."""
    kl_estimator: Literal["k1", "k2", "k3"] = "k3"
    """Per-token KL estimator used in the loss (Schulman's k1/k2/k3). `k1` = log(pi / pi_ref) has
    zero expected gradient as a loss (E_pi[grad log pi] = 0), so it is refused with kl_coef > 0;
    the learner logs k1 as the metric `kl_k1` whenever a reference model is loaded."""
    entropy_coef: float = 0.0
    epochs_per_step: int = Field(1, ge=1)
    """Passes over each step's samples; 1 is on-policy and skips the old-logprob pass."""
    zero_variance_groups: Literal["skip", "keep"] = "skip"
    """Groups whose samples all got the same reward carry no signal: skip them or keep them."""
    rollout_correction: RolloutCorrectionConfig = RolloutCorrectionConfig()
    dynamic_sampling: DynamicSamplingConfig = DynamicSamplingConfig()
    overlong: OverlongConfig = OverlongConfig()
    max_staleness: int = Field(0, ge=0)
    """Asynchronous rollouts: generation of the next `max_staleness` steps runs while the
    learner trains, on weights at most that many versions behind the learner's (0: the
    synchronous loop, every sample from the current weights). With it on, `rollout_correction`
    `auto` means `tis`."""
    stale_policy: Literal["wait", "drop"] = "wait"
    """A group with a sample older than `max_staleness` versions (the pipeline keeps within the
    bound by waiting, so only a lagging engine makes one): `wait` generates its prompt again
    with the current weights and waits for it, `drop` leaves the group out of the step. Counted
    in `async/stale_regenerated` / `async/stale_dropped` (samples)."""

    @model_validator(mode="before")
    @classmethod
    def _loss_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("policy_loss") in POLICY_LOSS_DEFAULTS:
            data = {**POLICY_LOSS_DEFAULTS[data["policy_loss"]], **data}
        return data

    @model_validator(mode="after")
    def _check_algorithm(self) -> AlgorithmConfig:
        if self.kl_coef > 0 and self.kl_estimator == "k1":
            raise ValueError(
                "algorithm.kl_estimator k1 has zero expected gradient as a loss (its gradient is grad log pi, "
                "whose expectation under pi is 0), so kl_coef > 0 would not pull towards the reference; "
                "use k3 (verl's low_var_kl) or k2 (its gradient is that of KL(pi || pi_ref)); k1 is logged as the metric kl_k1"
            )
        if self.dynamic_sampling.enabled and self.zero_variance_groups == "keep":
            raise ValueError(
                "algorithm.dynamic_sampling drops the groups without signal and refills them; "
                "it cannot be combined with zero_variance_groups: keep"
            )
        if self.max_staleness and self.dynamic_sampling.enabled:
            raise ValueError(
                "algorithm.dynamic_sampling's refills are drawn while the next steps' prompts are already "
                "generating; it cannot be combined with max_staleness > 0 (the asynchronous loop) yet"
            )
        if self.clip_low >= 1:
            raise ValueError(f"algorithm.clip_low must be < 1 (the ratio's lower bound is 1 - clip_low), got {self.clip_low}")
        return self


class RewardsConfig(Section):
    default: str | list[dict[str, Any]] | None = None
    """Reward for rows without a `reward` column: a name or [{name, weight}]."""
    settings: dict[str, dict[str, Any]] = {}
    """Per-reward keyword settings, e.g. {math: {timeout_s: 5}}. For local rewards this job is the
    operator (sandbox, time and memory limits included); for a reward in `remote`, only the
    settings its server lets a request set (`rlsys rewards list`: request settings)."""
    remote: dict[str, str] = {}
    """Rewards scored by a reward server: {reward_name: URL}."""
    remote_token_env: str | None = None
    """Environment variable holding the reward servers' bearer token."""
    on_failure: Literal["skip", "zero"] = "skip"
    """A sample whose reward failed (error/timeout): `skip` leaves it out of the loss and of its
    group's statistics; `zero` scores it 0. Either way it is counted in the metrics."""
    batch_timeout_s: float | None = Field(300.0, gt=0)
    """Wall-clock budget (seconds) for scoring one batch in the reward worker: rewards still
    running then give their samples status `timeout` and the step goes on (the late work is
    left to finish in a background thread). None waits for every reward."""


class TrainConfig(Section):
    steps: int = Field(10, ge=1)
    prompts_per_step: int = Field(4, ge=1)
    checkpoint_every: int = Field(0, ge=0)
    """Save a checkpoint every N steps (0: only at the end)."""
    keep_checkpoints: int = Field(2, ge=1)
    resume: bool = True
    max_restarts: int = Field(0, ge=0)
    """A learner rank that dies (Ray) ends the step with an error; with max_restarts > 0 the job
    starts its workers again and continues from its newest complete checkpoint, at most this
    many times. Counted in the metric `restarts/job`."""
    """Continue from the newest complete checkpoint in the run folder if there is one (the
    README's "Checkpoints and resume" says what continues exactly)."""
    log_samples: int = Field(0, ge=0)
    """Write the first N samples of every step (prompt, completion, reward, status) to
    `samples.jsonl` in the run folder; 0: none."""


class RLSections(Section):
    """The sections of an RL job that a pipeline's grpo stage also has (everything but run and model)."""

    cluster: ClusterConfig = ClusterConfig()
    data: DataConfig
    rollout: RolloutConfig = RolloutConfig()
    learner: LearnerConfig = LearnerConfig()
    algorithm: AlgorithmConfig = AlgorithmConfig()
    rewards: RewardsConfig = RewardsConfig()
    train: TrainConfig = TrainConfig()

    @model_validator(mode="after")
    def _check(self) -> RLSections:
        if self.rollout.temperature <= 0:
            raise ValueError("rollout.temperature must be > 0 for RL (0 is greedy decoding: no exploration, "
                             "and the log-probabilities of a sampling distribution are undefined)")
        if self.algorithm.type == "grpo" and self.rollout.samples_per_prompt < 2:
            raise ValueError("algorithm.type grpo needs rollout.samples_per_prompt >= 2 (one group per prompt)")
        check_rollout_placement(self.cluster, self.rollout, self.learner)
        overlong = self.algorithm.overlong
        if overlong.buffer_tokens is not None and overlong.buffer_tokens > self.rollout.max_new_tokens:
            raise ValueError(
                f"algorithm.overlong.buffer_tokens ({overlong.buffer_tokens}) must be at most "
                f"rollout.max_new_tokens ({self.rollout.max_new_tokens})"
            )
        if self.learner.micro_batch_tokens < self.rollout.max_model_len:
            raise ValueError(
                f"learner.micro_batch_tokens ({self.learner.micro_batch_tokens}) must be at least "
                f"rollout.max_model_len ({self.rollout.max_model_len}) so that every sequence fits"
            )
        return self

    @property
    def overlong_buffer_tokens(self) -> int:
        """The overlong penalty's ramp length: the configured one or a fifth of max_new_tokens."""
        return self.algorithm.overlong.buffer_tokens or max(1, self.rollout.max_new_tokens // 5)

    @field_validator("rewards")
    @classmethod
    def _remote_urls(cls, value: RewardsConfig) -> RewardsConfig:
        for name, url in value.remote.items():
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"rewards.remote.{name}: {url!r} is not an http(s) URL")
        return value


class RLConfig(RLSections):
    """A GRPO-family RL job (`rlsys train`)."""

    run: RunConfig = RunConfig()
    model: ModelConfig

    @property
    def rollout_dtype(self) -> str:
        return self.model.dtype if self.rollout.dtype == "auto" else self.rollout.dtype


def check_rollout_placement(cluster: ClusterConfig, rollout: RolloutConfig, learner: LearnerConfig) -> None:
    """Cross-field rules of engines, placement and weight transport (errors name the keys)."""
    tp = rollout.tensor_parallel_size
    if tp > 1 and rollout.backend != "vllm":
        raise ValueError("rollout.tensor_parallel_size > 1 is vLLM's tensor parallelism: it needs rollout.backend vllm")
    if tp > 1 and cluster.gpus_per_rollout != tp:
        raise ValueError(f"rollout.tensor_parallel_size {tp} runs one engine on {tp} GPUs: set "
                         f"cluster.gpus_per_rollout to {tp} (it is {cluster.gpus_per_rollout})")
    if cluster.type == "inline":
        if rollout.weight_transport == "collective":
            raise ValueError("rollout.weight_transport collective broadcasts between processes; cluster.type "
                             "inline runs learner and engine in one process (use object_store there)")
        if cluster.placement == "colocated":
            raise ValueError("cluster.placement colocated places Ray actors; cluster.type inline has none")
        return
    if cluster.placement != "colocated":
        return
    if rollout.num_workers != learner.num_workers:
        raise ValueError(f"cluster.placement colocated puts rollout engine i with learner rank i: rollout.num_workers "
                         f"({rollout.num_workers}) must equal learner.num_workers ({learner.num_workers})")
    if tp > 1:
        raise ValueError("cluster.placement colocated shares one learner rank's GPUs with one engine: "
                         "rollout.tensor_parallel_size must be 1 (use disaggregated for larger engines)")
    if cluster.gpus_per_rollout not in (0, cluster.gpus_per_learner):
        raise ValueError("cluster.placement colocated: an engine uses its learner rank's GPUs; leave "
                         "cluster.gpus_per_rollout at 0 or equal to cluster.gpus_per_learner")
    if rollout.weight_transport == "collective" and cluster.gpus_per_learner > 0:
        raise ValueError("rollout.weight_transport collective cannot run colocated on GPUs: NCCL cannot hold the "
                         "learner and the engine as two ranks on one GPU; use object_store")


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
            raise ValueError("cluster.type inline runs one learner process: learner.num_workers must be 1 "
                             "(or use cluster.type ray)")
        pair = self.type in ("dpo", "wpo")
        if pair and self.on_overlength == "split":
            raise ValueError("on_overlength 'split' cuts documents; it does not apply to preference pairs")
        need = 2 * self.max_tokens if pair else self.max_tokens
        if self.learner.micro_batch_tokens < need:
            what = "2 * max_tokens (a padded pair)" if pair else "max_tokens"
            raise ValueError(f"learner.micro_batch_tokens ({self.learner.micro_batch_tokens}) must be at least "
                             f"{what} ({need}) so every example fits")
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


StageConfig = Annotated[CPTStage | SFTStage | DPOStage | WPOStage | GRPOStage | CurateStage, Field(discriminator="type")]


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
                raise ValueError(f"eval set {key!r}: the task must be one of {', '.join(EVAL_TASKS)} (optionally 'task:label')")
        return value

    @model_validator(mode="after")
    def _check_sampling(self) -> EvalConfig:
        if not self.pass_k or min(self.pass_k) < 1:
            raise ValueError(f"pass_k must be a non-empty list of k >= 1, got {self.pass_k}")
        if self.samples_per_prompt > 1 and max(self.pass_k) > self.samples_per_prompt:
            raise ValueError(f"pass@{max(self.pass_k)} needs samples_per_prompt >= {max(self.pass_k)} "
                             f"(got {self.samples_per_prompt})")
        return self


# ---------------------------------------------------------------- loading


def parse_override(item: str) -> tuple[list[str], Any]:
    """`a.b.c=value` -> (["a","b","c"], parsed value); the value is read as a YAML scalar."""
    key, sep, raw = item.partition("=")
    if not sep or not key:
        raise ConfigError(f"override {item!r} is not of the form key.sub=value")
    return key.split("."), yaml.safe_load(raw) if raw else ""


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for item in overrides:
        path, value = parse_override(item)
        node = data
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a section")
            node = child
        node[path[-1]] = value
    return data


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
    return data


def validate(model: type[BaseModel], data: dict[str, Any], source: str) -> Any:
    """Validate `data` as `model`, turning pydantic's errors into one message per bad key."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            if err["type"] == "extra_forbidden":
                lines.append(f"{source}: unknown key {key!r}")
            else:
                lines.append(f"{source}: {key}: {err['msg']} (got {err.get('input')!r})")
        raise ConfigError("\n".join(lines)) from None


def load_config(path: str | Path, overrides: list[str] | None = None, model: type[BaseModel] = RLConfig) -> Any:
    """Read YAML, apply `key.sub=value` overrides, validate. Relative paths stay relative to
    the working directory (run from the repo root, as the README does)."""
    data = apply_overrides(read_yaml(path), list(overrides or []))
    return validate(model, data, str(path))


def dump_config(config: BaseModel) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
