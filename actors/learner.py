"""The learner: one model, one optimizer, the policy-gradient step and checkpoints.

A plain class (usable in one process) that `actors.group` runs as one Ray actor per rank.
What makes it fast on small machines:
- sequences are packed into micro-batches by token budget (no padding): one row per
  micro-batch, position ids restart per sequence, and attention never crosses sequences;
- log-probabilities are computed only at the positions that predict completion tokens, in
  chunks: the full-vocabulary logits of prompt tokens are never formed;
- on-policy steps (`epochs_per_step: 1`) skip the old-logprob pass: the ratio is 1 by
  construction, so the old log-probabilities are the new ones detached (they are also the
  learner side of `algorithm.rollout_correction`'s ratio against the engine's log-probs);
- attention runs per sequence (`actors.packed_attention`): transformers' SDPA path would build
  a dense block-diagonal mask over the whole packed row and pay L^2 attention for it (12 s
  instead of 4 s per step on 32 x 152 tokens, 2 CPU cores; see docs/benchmarks.md);
- the samples of one prompt share one copy of it in the packed row (`pack(share_prompts=True)`):
  4 prompts x 8 samples of 34 + 128 tokens are 4,232 tokens instead of 5,184 (-18 % time).

Devices and ranks: the learner owns one `device` (its GPU, or the CPU: `actors.distributed`);
the strategy keeps the model and optimizer there and `pack` builds every batch tensor there.
With several ranks each trains on its share of the global batch (`split_by_tokens`) and
normalizes its loss by the global token / sequence count, so the update equals one rank's on
the whole batch; every rank runs the same number of micro-batches (`lockstep`: ZeRO-3 gathers
parameters in every forward pass), a rank with fewer running idle ones.

Gradient checkpointing (`learner.gradient_checkpointing`): transformers recomputes a decoder
layer in backward only when that layer is in training mode, and the learner keeps the model in
eval mode (no dropout, so the training pass and the scoring pass compute the same
log-probabilities); only the checkpointed layers' own `training` flag is switched on.
"""

from __future__ import annotations

import contextlib
import copy
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from actors.checkpointing import load_weights_strict, rng_state, save_hf, set_rng_state
from actors.distributed import init_process_group, local_device
from actors.packed_attention import PACKED_ATTENTION, attention_for, uses_varlen, varlen_kwargs
from actors.strategy import DeepSpeedStrategy, TorchStrategy
from actors.weight_sync import Transport, checkpoint_tensors
from actors.weight_sync import pack as pack_weights
from actors.weight_sync import transport as weight_transport
from rlsys.core import algorithms
from rlsys.core.checkpoints import (
    TRAINER_STATE,
    checkpoint_problem,
    publish,
    read_manifest,
    reset_dir,
    staging_dir,
    write_json,
)
from rlsys.core.config import AlgorithmConfig, LearnerConfig
from rlsys.core.types import TrainSample, WeightPayload


def plan_micro_batches(lengths: list[int], budget: int) -> list[list[int]]:
    """First-fit-decreasing bins of sample indices whose lengths sum to at most `budget`."""
    bins: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        if lengths[i] > budget:
            raise ValueError(f"sample {i} has {lengths[i]} tokens, over learner.micro_batch_tokens ({budget})")
        for b, free in enumerate(room):
            if lengths[i] <= free:
                bins[b].append(i)
                room[b] -= lengths[i]
                break
        else:
            bins.append([i])
            room.append(budget - lengths[i])
    return bins


def split_by_tokens(lengths: list[int], n: int) -> list[list[int]]:
    """Indices for `n` ranks with balanced token counts: longest first, each to the rank with
    the fewest tokens so far (ties: the lowest rank). Each rank's indices stay in input order."""
    shares: list[list[int]] = [[] for _ in range(n)]
    load = [0] * n
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        r = min(range(n), key=lambda r: (load[r], r))
        shares[r].append(i)
        load[r] += lengths[i]
    return [sorted(share) for share in shares]


def enable_gradient_checkpointing(model: Any) -> int:  # a transformers PreTrainedModel
    """Recompute each decoder layer's activations in backward (non-reentrant checkpoints), with
    the model otherwise in eval mode; returns the number of checkpointed layers."""
    from transformers.modeling_layers import GradientCheckpointingLayer

    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    layers = [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer) and m.gradient_checkpointing]
    for layer in layers:
        layer.training = True  # transformers checks the layer's own flag; its children stay in eval mode
    if not layers:
        raise ValueError(f"{type(model).__name__} has no layer that transformers can checkpoint")
    return len(layers)


def compile_layers(model: torch.nn.Module) -> int:
    """`torch.compile` every decoder layer (dynamic shapes: packed rows vary in length); returns
    how many. Layers, not the whole model: the log-prob head runs on a varying subset of tokens."""
    from transformers.modeling_layers import GradientCheckpointingLayer

    layers = [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer)]
    for layer in layers:
        layer.compile(dynamic=True)
    return len(layers)


@dataclass
class Packed:
    input_ids: torch.Tensor  # [1, L]
    position_ids: torch.Tensor  # [1, L]
    predict_at: torch.Tensor  # [n] positions whose logits predict completion tokens
    targets: torch.Tensor  # [n] the completion tokens
    seq_lens: list[int]  # completion length of each sample, in order
    attention_kwargs: dict[str, Any] = field(default_factory=dict)  # sequence boundaries for varlen attention


def pack(
    samples: list[TrainSample], share_prompts: bool = False, device: torch.device | str = "cpu", varlen: bool = False
) -> Packed:
    """One packed row, its tensors on `device`. `share_prompts`: samples with the same prompt (a
    GRPO group) share one copy of it, each completion continuing it at the same positions; only
    `packed_sdpa` attends that way (see `attention_for`). Log-probabilities and gradients are the
    same either way. `varlen`: also the sequence boundaries for the varlen kernels (no sharing)."""
    ids: list[int] = []
    pos: list[int] = []
    groups: dict[Any, list[int]] = {}
    for i, s in enumerate(samples):
        groups.setdefault(tuple(s.prompt_ids) if share_prompts else i, []).append(i)
    where: dict[int, tuple[int, int]] = {}  # sample -> (its last prompt token, its first completion token)
    for members in groups.values():
        prompt = samples[members[0]].prompt_ids
        ids += prompt
        pos += range(len(prompt))
        last_prompt = len(ids) - 1
        for i in members:
            where[i] = (last_prompt, len(ids))
            ids += samples[i].completion_ids
            pos += range(len(prompt), len(prompt) + len(samples[i].completion_ids))
    predict_at, targets, seq_lens = [], [], []
    for i, s in enumerate(samples):
        last, first = where[i]
        c = len(s.completion_ids)
        predict_at += [last, *range(first, first + c - 1)] if c else []
        targets += s.completion_ids
        seq_lens.append(c)

    def tensor(values: list[Any]) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.long, device=device)

    extra = varlen_kwargs(pos, device) if varlen else {}
    return Packed(tensor([ids]), tensor([pos]), tensor(predict_at), tensor(targets), seq_lens, extra)


def pad_rows(flat: torch.Tensor, seq_lens: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a flat per-token vector into padded rows [S, Tmax] and their mask."""
    rows = torch.split(flat, seq_lens)
    width = max(seq_lens) if seq_lens else 0
    out = flat.new_zeros(len(seq_lens), width)
    mask = torch.zeros(len(seq_lens), width, dtype=torch.bool, device=flat.device)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
        mask[i, : len(row)] = True
    return out, mask


class Learner:
    """Trains the policy on scored samples; exports weights; writes checkpoints."""

    def __init__(
        self,
        model_path: str,
        cfg: LearnerConfig,
        algo: AlgorithmConfig | None = None,
        *,
        total_steps: int = 1,
        temperature: float = 1.0,
        max_completion_tokens: int | None = None,
        dtype: str = "float32",
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        master_addr: str = "127.0.0.1",
        master_port: int = 29500,
        local_rank: int | None = None,
    ):
        """`local_rank`: index of this rank's GPU among the GPUs it sees (None: `LOCAL_RANK` or 0;
        the Ray layer passes 0, since Ray shows each actor only its own GPUs)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if not os.path.isdir(model_path):
            raise FileNotFoundError(f"model path {model_path!r} does not exist or is not a folder")
        torch.set_num_threads(cfg.threads or os.cpu_count() or 1)  # phases alternate: use every core
        torch.manual_seed(seed + rank)
        self.cfg, self.algo, self.temperature = cfg, algo or AlgorithmConfig(), temperature
        self.max_completion_tokens = max_completion_tokens  # Dr. GRPO's constant normalizer
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        from transformers import AutoConfig

        attn = attention_for(AutoConfig.from_pretrained(model_path))
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=getattr(torch, dtype), attn_implementation=attn)
        model.config.use_cache = False
        self.device = local_device(local_rank)
        # CUDA, half precision: one varlen flash-attention call per layer, every sample packed whole;
        # otherwise per-sequence SDPA, a GRPO group's prompt computed once
        self.varlen = attn == PACKED_ATTENTION and uses_varlen(self.device, getattr(torch, cfg.autocast or dtype))
        self.share_prompts = attn == PACKED_ATTENTION and not self.varlen
        self.rank, self.world_size = rank, world_size
        self.ref_model = None
        if self.algo.kl_coef > 0:
            self.ref_model = copy.deepcopy(model).eval().requires_grad_(False).to(self.device)
        # the scheduler steps once per optimizer step: epochs_per_step of them per RL step
        optimizer_steps = total_steps * self.algo.epochs_per_step
        if cfg.strategy == "deepspeed" or world_size > 1:
            init_process_group(rank, world_size, master_addr, master_port, self.device)
        if cfg.strategy == "deepspeed":
            self.strategy: Any = DeepSpeedStrategy(model, cfg, optimizer_steps, dtype=dtype, device=self.device)
        else:
            self.strategy = TorchStrategy(model, cfg, optimizer_steps, device=self.device)
        if cfg.gradient_checkpointing:
            enable_gradient_checkpointing(self.strategy.module)
        if cfg.compile:
            compile_layers(self.strategy.module)
        self.step_count = 0
        self.asynchronous = False  # hook: the asynchronous loop sets it (rollout_correction `auto` -> tis)

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed precision for forward passes (`learner.autocast`); nothing when it is off."""
        if self.cfg.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=getattr(torch, self.cfg.autocast))

    # ------------------------------------------------------------ ranks in step

    def lockstep(self, n_local: int) -> int:
        """Micro-batches every rank runs in this pass: the most any rank has. A rank with fewer
        runs `idle_loss` micro-batches for the rest (ZeRO-3 gathers parameters in every forward
        pass; gradient reduction waits for every rank's backward)."""
        return self.strategy.all_reduce_max(n_local) if self.world_size > 1 else n_local

    def idle_loss(self, full_model: bool = False) -> torch.Tensor:
        """A zero loss from a one-token forward pass: an idle micro-batch that takes part in the
        collectives of forward (and, backpropagated, backward) without changing the update. It
        calls the modules a real micro-batch calls (ZeRO-3 hooks the top module apart from its
        submodules): the decoder and the head as `_logprobs` does, or the whole model
        (`full_model`, as the pre-RL stages do)."""
        module = self.strategy.module
        if full_model:
            ids = torch.zeros(1, 1, dtype=torch.long, device=self.device)
            with self.autocast():
                out = module(input_ids=ids, use_cache=False).logits.float().sum()
        else:
            one = TrainSample([0], [0], 0.0, [0.0])
            out = self._logprobs(module, pack([one], False, self.device, self.varlen), with_entropy=False)[0].sum()
        return out * 0.0

    def global_sum(self, *values: float) -> list[float]:
        """Each value summed over the learner ranks (the values themselves with one rank)."""
        if self.world_size == 1:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(tensor)
        return tensor.tolist()

    # ------------------------------------------------------------ log-probabilities

    def _logprobs(self, model: Any, packed: Packed, with_entropy: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probabilities (and entropies) of the completion tokens only, under the sampling
        distribution softmax(logits / temperature) (`algorithms.token_logprobs`), chunk by chunk:
        only `logprob_chunk_tokens` rows of full-vocabulary logits exist at a time."""
        with self.autocast():
            hidden = model.get_decoder()(
                input_ids=packed.input_ids, position_ids=packed.position_ids, use_cache=False, **packed.attention_kwargs
            ).last_hidden_state[0]
        head = model.get_output_embeddings()
        cap = getattr(model.config, "final_logit_softcapping", None)
        logps, ents = [], []
        for idx, tgt in zip(
            packed.predict_at.split(self.cfg.logprob_chunk_tokens), packed.targets.split(self.cfg.logprob_chunk_tokens)
        ):
            with self.autocast():
                logits = head(hidden[idx]).float()
            if cap:
                logits = torch.tanh(logits / cap) * cap
            # chunked autograd path: saves these logits as they are, no scaled or softmaxed copy
            logps.append(
                algorithms.token_logprobs(logits[None], tgt[None], chunk=len(tgt), temperature=self.temperature)[0]
            )
            with torch.set_grad_enabled(with_entropy and torch.is_grad_enabled()):
                ents.append(algorithms.entropy_from_logits(logits / self.temperature))
        return torch.cat(logps), torch.cat(ents)

    @torch.no_grad()
    def compute_logprobs(self, samples: list[TrainSample], reference: bool = False) -> list[list[float]]:
        """Per-sample completion log-probabilities under the policy (or the reference)."""
        model = self.ref_model if reference else self.strategy.module
        out: list[list[float]] = [[] for _ in samples]
        groups = plan_micro_batches([len(s) for s in samples], self.cfg.micro_batch_tokens)
        for k in range(len(groups) if reference else self.lockstep(len(groups))):
            if k >= len(groups):
                self.idle_loss()
                continue
            packed = pack([samples[i] for i in groups[k]], self.share_prompts, self.device, self.varlen)
            logp, _ = self._logprobs(model, packed, with_entropy=False)
            for i, row in zip(groups[k], logp.split(packed.seq_lens)):
                out[i] = row.tolist()
        return out

    # ------------------------------------------------------------ training

    def train_step(self, samples: list[TrainSample], total_tokens: int, total_seqs: int) -> dict[str, float]:
        """One optimizer step per epoch on this rank's share of the batch.

        `total_tokens` / `total_seqs` count completion tokens / sequences over all ranks, so
        that the loss is normalized over the whole batch however it was split.
        """
        start = time.perf_counter()
        old = None
        if self.algo.epochs_per_step > 1:
            old = self.compute_logprobs(samples)
        metrics: dict[str, float] = {}
        for _ in range(self.algo.epochs_per_step):
            metrics = self._one_epoch(samples, old, total_tokens, total_seqs)
        metrics["time/train_s"] = time.perf_counter() - start
        self.step_count += 1
        return metrics

    def _one_epoch(self, samples, old, total_tokens, total_seqs) -> dict[str, float]:
        groups = plan_micro_batches([len(s) for s in samples], self.cfg.micro_batch_tokens) if samples else []
        n_micro = self.lockstep(len(groups))
        sums: dict[str, float] = {}
        log_rhos: list[torch.Tensor] = []  # this epoch's rollout log-ratios, for their quantiles
        for k in range(n_micro):
            if k < len(groups):
                part = self._micro_step(
                    [samples[i] for i in groups[k]],
                    [old[i] for i in groups[k]] if old else None,
                    total_tokens,
                    total_seqs,
                    log_rhos,
                )
                for key, value in part.items():
                    sums[key] = sums.get(key, 0.0) + value
            else:
                self.strategy.backward(self.idle_loss())
        metrics = {k: v / max(total_tokens, 1) for k, v in sums.items() if k != "tokens"}
        metrics["grad_norm"] = self.strategy.step()
        metrics["lr"] = self.strategy.lr()
        metrics["tokens"] = sums.get("tokens", 0.0)
        quantiles = algorithms.ratio_quantiles(torch.cat(log_rhos) if log_rhos else torch.zeros(0))
        metrics.update({f"rollout_is/ratio_{k}": v for k, v in quantiles.items()})
        return metrics

    def _micro_step(
        self, batch: list[TrainSample], old, total_tokens: int, total_seqs: int, log_rhos: list[torch.Tensor]
    ) -> dict[str, float]:
        algo = self.algo
        packed = pack(batch, self.share_prompts, self.device, self.varlen)
        logp_flat, ent_flat = self._logprobs(self.strategy.module, packed, with_entropy=algo.entropy_coef != 0)
        logp, mask = pad_rows(logp_flat, packed.seq_lens)
        dev = self.device
        rollout_lp, _ = pad_rows(
            torch.tensor([x for s in batch for x in s.rollout_logprobs], device=dev), packed.seq_lens
        )
        old_lp = (
            logp.detach()
            if old is None
            else pad_rows(torch.tensor([x for o in old for x in o], device=dev), packed.seq_lens)[0]
        )
        corr = algo.rollout_correction
        is_weights, mismatch = algorithms.rollout_correction(
            old_lp,
            rollout_lp,
            mask,
            kind=corr.resolve(self.asynchronous),
            tis_cap=corr.tis_cap,
            mis_low=corr.mis_low,
            mis_high=corr.mis_high,
        )
        log_rhos.append((old_lp - rollout_lp)[mask])
        adv = torch.tensor([s.advantage for s in batch], dtype=logp.dtype, device=dev)
        max_tokens = self.max_completion_tokens or max(packed.seq_lens)
        loss, pm = algorithms.policy_loss(
            logp,
            old_lp,
            adv,
            mask,
            name=algo.policy_loss,
            clip_low=algo.clip_low,
            clip_high=algo.clip_high,
            agg=algo.loss_agg,
            max_tokens=max_tokens,
            weights=is_weights,
        )
        ent, _ = pad_rows(ent_flat, packed.seq_lens)
        if algo.entropy_coef:
            loss = loss - algo.entropy_coef * algorithms.aggregate(ent, mask, algo.loss_agg, max_tokens)
        kl_sums = {}
        if self.ref_model is not None:
            with torch.no_grad():
                ref_flat, _ = self._logprobs(self.ref_model, packed, with_entropy=False)
            ref_lp = pad_rows(ref_flat, packed.seq_lens)[0]
            kl = algorithms.kl_penalty(logp, ref_lp, algo.kl_estimator)
            loss = loss + algo.kl_coef * algorithms.aggregate(kl, mask, algo.loss_agg, max_tokens)
            k1 = algorithms.kl_penalty(logp.detach(), ref_lp, "k1")  # unbiased estimate of KL(pi || ref)
            kl_sums = {"kl": float((kl * mask).sum()), "kl_k1": float((k1 * mask).sum())}
        n_tok = int(mask.sum())
        share = n_tok / total_tokens if algo.loss_agg == "token_mean" else len(batch) / total_seqs
        self.strategy.backward(loss * share * self.world_size)
        with torch.no_grad():
            return {  # sums over tokens; divided by total_tokens in _one_epoch
                "loss": float(loss) * n_tok,
                "entropy": float((ent * mask).sum()),
                "kl": 0.0,
                **kl_sums,
                "clip_fraction": float(pm["clip_fraction"]) * n_tok,
                "logprob_diff_rollout": float(mismatch["logprob_abs_diff"]) * n_tok,
                "rollout_is/truncated_frac": float(mismatch["truncated_frac"]) * n_tok,
                "rollout_is/masked_frac": float(mismatch["masked_frac"]) * n_tok,
                "tokens": float(n_tok),
            }

    # ------------------------------------------------------------ weights and checkpoints

    def export_weights(self, version: int, transport: Transport = "tensors") -> WeightPayload | None:
        """The full weights, packed for the rollout side, on rank 0 (None elsewhere); every
        rank must call it (ZeRO-3 gathers).

        Host copies on rank 0 (`strategy.full_state_dict`) for the object store. The collective
        transport broadcasts from the learner's device: the weights as they are, no host copy,
        unless ZeRO-3 partitions them (gathered one at a time into host copies)."""
        partitioned = self.cfg.strategy == "deepspeed" and self.cfg.zero_stage == 3
        if transport == "collective" and not partitioned:
            state = dict(self.strategy.iter_full_params()) if self.rank == 0 else {}
        else:
            state = self.strategy.full_state_dict()
        if self.rank != 0:
            return None
        state = checkpoint_tensors(self.strategy.module, state)  # the names vLLM's loaders take
        return pack_weights(state, version, transport)

    def open_weight_group(self, world_size: int) -> tuple[str, int]:
        """Rank 0: host the collective weight transport's rendezvous (this rank plus every engine
        worker, `world_size` in all); returns its address for the engines."""
        return weight_transport("collective").listen(world_size)

    def join_weight_group(self, world_size: int) -> None:
        """Rank 0: form the group with the engines (blocks until they have joined)."""
        weight_transport("collective").join("", 0, 0, world_size, self.device)

    def save_checkpoint(self, path: str, trainer_state: dict[str, Any] | None = None) -> None:
        """A complete checkpoint in the folder `path`, published atomically; every rank calls it.

        Every rank writes its files into the staging folder (rank 0: `hf/` and trainer_state.json;
        each rank: its optimizer / DeepSpeed shards and `learner_rank{r}.pt` with its RNG streams);
        after a barrier rank 0 writes the manifest, fsyncs and renames (rlsys/core/checkpoints.py).
        """
        final = Path(path)
        staging = staging_dir(final)
        if self.rank == 0:
            reset_dir(staging)
        self._barrier()
        state = self.strategy.full_state_dict()  # every rank (ZeRO-3 gathers)
        if self.rank == 0:
            save_hf(self.strategy.module, state, self.tokenizer, staging / "hf")
            write_json(staging / TRAINER_STATE, trainer_state or {})
        del state
        self.strategy.save(staging)
        torch.save({"rng": rng_state(), "step_count": self.step_count}, staging / f"learner_rank{self.rank}.pt")
        self._barrier()
        if self.rank == 0:
            publish(staging, final, world_size=self.world_size)
        self._barrier()

    def load_checkpoint(self, path: str) -> None:
        """Weights, optimizer, scheduler, RNG streams and step count from a complete checkpoint.

        The reference model (KL) is not touched: it stays the initial model this learner was built
        from, as in the uninterrupted run. Torch strategy: weights from `hf/`, strictly
        (actors/checkpointing.py); DeepSpeed: weights and optimizer from its own checkpoint
        (ZeRO-3 included), strict as well.
        """
        folder = Path(path)
        if (why := checkpoint_problem(folder)) is not None:
            raise ValueError(f"{folder} is not a complete checkpoint: {why}")
        saved_world = read_manifest(folder).get("world_size", 1)
        if saved_world != self.world_size:
            raise ValueError(
                f"{folder} was written by {saved_world} learner ranks, this job has {self.world_size}; "
                "optimizer states are partitioned per rank: resume with the same learner.num_workers"
            )
        if not isinstance(self.strategy, DeepSpeedStrategy):
            load_weights_strict(self.strategy.module, folder / "hf")
        self.strategy.load(folder)
        mine = torch.load(folder / f"learner_rank{self.rank}.pt", weights_only=True)
        set_rng_state(mine["rng"])
        self.step_count = mine["step_count"]

    def _barrier(self) -> None:
        if self.world_size > 1:
            torch.distributed.barrier()

    def close(self) -> None:
        self.strategy.close()
