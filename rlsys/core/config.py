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
from typing import Any, Literal

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
    threads: int | None = Field(None, ge=1)
    """torch threads of each engine's process on CPU. Default: every core of the host, except
    in the asynchronous loop on a CPU-only local cluster, where the engines and the learner ranks
    compute at the same time and share the cores (`cpu_threads`)."""


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
            raise ValueError(
                f"algorithm.clip_low must be < 1 (the ratio's lower bound is 1 - clip_low), got {self.clip_low}"
            )
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
            raise ValueError(
                "rollout.temperature must be > 0 for RL (0 is greedy decoding: no exploration, "
                "and the log-probabilities of a sampling distribution are undefined)"
            )
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
        raise ValueError(
            f"rollout.tensor_parallel_size {tp} runs one engine on {tp} GPUs: set "
            f"cluster.gpus_per_rollout to {tp} (it is {cluster.gpus_per_rollout})"
        )
    if cluster.type == "inline":
        if rollout.weight_transport == "collective":
            raise ValueError(
                "rollout.weight_transport collective broadcasts between processes; cluster.type "
                "inline runs learner and engine in one process (use object_store there)"
            )
        if cluster.placement == "colocated":
            raise ValueError("cluster.placement colocated places Ray actors; cluster.type inline has none")
        return
    if cluster.placement != "colocated":
        return
    if rollout.num_workers != learner.num_workers:
        raise ValueError(
            f"cluster.placement colocated puts rollout engine i with learner rank i: rollout.num_workers "
            f"({rollout.num_workers}) must equal learner.num_workers ({learner.num_workers})"
        )
    if tp > 1:
        raise ValueError(
            "cluster.placement colocated shares one learner rank's GPUs with one engine: "
            "rollout.tensor_parallel_size must be 1 (use disaggregated for larger engines)"
        )
    if cluster.gpus_per_rollout not in (0, cluster.gpus_per_learner):
        raise ValueError(
            "cluster.placement colocated: an engine uses its learner rank's GPUs; leave "
            "cluster.gpus_per_rollout at 0 or equal to cluster.gpus_per_learner"
        )
    if rollout.weight_transport == "collective" and cluster.gpus_per_learner > 0:
        raise ValueError(
            "rollout.weight_transport collective cannot run colocated on GPUs: NCCL cannot hold the "
            "learner and the engine as two ranks on one GPU; use object_store"
        )


# ---------------------------------------------------------------- loading


def cpu_threads(cfg: RLConfig, cores: int) -> tuple[int | None, int | None]:
    """(learner threads, engine threads) for a job on a host with `cores` cores; None: the
    process's default (every core). `learner.threads` / `rollout.threads` win when set.

    In the synchronous loop the phases alternate, so each process uses every core. In the
    asynchronous loop (`algorithm.max_staleness` > 0) on a local cluster without GPUs, the engines
    generate while the learner trains on the same cores: with every process at every core the
    threads oversubscribe them (measured on 2 cores, fp32: 8.1 s for a step that takes 5.3 s in
    turn; split 1 + 1: 4.9 s; docs/benchmarks.md). Then each learner rank and each engine gets an
    equal share of the cores (at least 1)."""
    learner, rollout = cfg.learner.threads, cfg.rollout.threads
    c = cfg.cluster
    overlapping = cfg.algorithm.max_staleness > 0 and c.type == "ray" and c.address is None
    on_cpu = c.gpus_per_learner == 0 and c.gpus_per_rollout == 0
    if overlapping and on_cpu:
        share = max(1, cores // (cfg.learner.num_workers + cfg.rollout.num_workers))
        learner, rollout = learner or share, rollout or share
    return learner, rollout


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
