"""What a learner rank writes into a checkpoint and reads back: weights (strictly), RNG streams.

- `save_hf`: model (safetensors) + tokenizer + chat template + generation config: a folder that
  transformers and vLLM load as it is.
- `load_weights_strict`: a Hugging Face folder's safetensors into a model. A weight the model
  lacks, or a model weight the files lack, is an error that names them (never `strict=False`,
  which would resume silently from random weights). The one legitimate absence is a weight the
  model's config ties to another (`tie_word_embeddings`: gemma2's and qwen2's lm_head is the
  embedding matrix), which `save_pretrained` does not store; it is filled from its source,
  following the model's own `all_tied_weights_keys`.
- `rng_state` / `set_rng_state`: python `random`, numpy, torch CPU and every CUDA device, in a
  form `torch.load(weights_only=True)` reads (a checkpoint cannot run code when loaded).

Not covered: weights in other formats than safetensors (`.bin` files are refused, not read).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from transformers import PreTrainedModel


def save_hf(module: PreTrainedModel, state: dict[str, torch.Tensor], tokenizer: Any, out: Path) -> Path:
    module.save_pretrained(out, state_dict=state, safe_serialization=True)
    tokenizer.save_pretrained(out)
    if getattr(module, "generation_config", None) is not None:
        module.generation_config.save_pretrained(out)
    return out


def read_safetensors(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    files = sorted(folder.glob("*.safetensors"))
    if not files:
        found = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else "the folder does not exist"
        raise FileNotFoundError(f"{folder}: no *.safetensors weights ({found})")
    state: dict[str, torch.Tensor] = {}
    for f in files:
        state.update(load_file(f))
    return state


def load_weights_strict(module: torch.nn.Module, folder: Path) -> None:
    """Load `folder`'s safetensors into `module`; missing or unexpected keys raise ValueError naming them."""
    state = read_safetensors(folder)
    expected = set(module.state_dict())
    tied = getattr(module, "all_tied_weights_keys", None) or {}  # {target: source}, from the config
    for target, source in tied.items():
        if target in expected and target not in state and source in state:
            state[target] = state[source]
        elif source in expected and source not in state and target in state:
            state[source] = state[target]
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        parts = [
            f"missing {_names(missing)}" if missing else "",
            f"unexpected {_names(unexpected)}" if unexpected else "",
        ]
        raise ValueError(f"{folder}: the weights do not fit the model ({'; '.join(p for p in parts if p)})")
    module.load_state_dict(state, strict=True)


def _names(keys: list[str], shown: int = 8) -> str:
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return ", ".join(keys[:shown]) + more


def rng_state() -> dict[str, Any]:
    """Every random stream of this process, as tensors and plain values."""
    legacy = np.random.get_state(legacy=True)  # a tuple for MT19937, the bit generator of numpy's global state
    if isinstance(legacy, dict):
        raise RuntimeError(f"numpy's global random state uses {legacy.get('bit_generator')}, not MT19937")
    kind, keys, pos, has_gauss, gauss = legacy
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(_tuples(state["python"]))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tuples(value: Any) -> Any:
    """random.setstate wants the nested tuples back (a round trip through a checkpoint may give lists)."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list | tuple) else value
