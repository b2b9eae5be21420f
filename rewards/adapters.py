"""Use rlsys rewards from other trainers. For now: TRL's `reward_funcs`.

    from trl import GRPOTrainer
    from rewards.adapters import trl_reward_func
    trainer = GRPOTrainer(..., reward_funcs=[trl_reward_func("math"), trl_reward_func("length_penalty", max_chars=800)])

TRL calls `fn(prompts=..., completions=..., completion_ids=..., **dataset_columns)` and expects
one float or None per completion; it turns None into NaN and leaves it out of the reward sum and
statistics. So a non-ok result (error, timeout, not_applicable) becomes None, never 0.
Conversational completions (lists of `{"role", "content"}` messages) are scored on the text of
their assistant messages. The dataset columns the reward declares are passed through (and the
prompts as column `prompt` when the reward asks for it); a reward that declares no columns gets
every per-sample keyword TRL passes.

TRL logs only the mean of the numbers (`rewards/math/mean: None` when every sample failed), so
the adapter says why on the `rewards.adapters` logger: a warning with the counts by status and
the first distinct reasons, at once for the first failure and then at most every
`WARN_EVERY_S` seconds per reward (counting what happened in between). Python shows warnings
on stderr even when logging is not configured.

Not covered: an adapter for OpenRLHF's in-process `reward_func(queries, prompts, labels)` (use
the service's /openrlhf route instead).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from rewards.base import RewardResult
from rewards.compose import select_columns
from rewards.registry import get_reward
from rewards.registry import score as score_batch

log = logging.getLogger(__name__)
WARN_EVERY_S = 60.0
_REASONS_SHOWN = 3


class FailureReport:
    """Rate-limited warnings about samples a reward did not score (see the module docstring)."""

    def __init__(self, name: str, every_s: float = WARN_EVERY_S) -> None:
        self.name, self.every_s = name, every_s
        self.last = -float("inf")
        self.statuses: Counter[str] = Counter()
        self.samples = 0
        self.reasons: list[str] = []
        self.lock = threading.Lock()

    def note(self, results: Sequence[RewardResult]) -> None:
        with self.lock:
            self.samples += len(results)
            for r in results:
                if r.status != "ok":
                    self.statuses[r.status] += 1
                    if len(self.reasons) < _REASONS_SHOWN and r.reason not in self.reasons:
                        self.reasons.append(r.reason[:300])
            now = time.monotonic()
            if not self.statuses or now - self.last < self.every_s:
                return
            failed = sum(self.statuses.values())
            counts = ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items()))
            log.warning(
                "reward %r gave no score to %d of %d samples (%s)%s; TRL records them as None/NaN. Reasons: %s",
                self.name,
                failed,
                self.samples,
                counts,
                "" if self.last < 0 else f" in the last {now - self.last:.0f} s",
                self.reasons,
            )
            self.last, self.statuses, self.samples, self.reasons = now, Counter(), 0, []


def completion_text(completion: Any) -> str:
    """Plain text of a completion: a string as is, or the assistant messages' text joined."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    messages = [m for m in completion if isinstance(m, dict)]
    assistant = [m for m in messages if m.get("role", "assistant") == "assistant"] or messages
    return "".join(_content_text(m.get("content")) for m in assistant)


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    # multimodal content: [{"type": "text", "text": ...}, {"type": "image", ...}]
    return "".join(part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text")


def trl_reward_func(name: str, **settings: Any) -> Callable[..., list[float | None]]:
    """A TRL `reward_funcs` entry scoring with reward `name` and the given settings.

    Raises KeyError at once for an unknown name (not at the first training step).

    >>> fn = trl_reward_func("exact_match")
    >>> fn(prompts=["2+2?"] * 2, completions=[[{"role": "assistant", "content": "4"}], "5"], answer=["4", "4"])
    [1.0, 0.0]
    """
    spec = get_reward(name)
    report = FailureReport(name)

    def reward_func(
        prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (), **kwargs: Any
    ) -> list[float | None]:
        texts = [completion_text(c) for c in completions]
        n = len(texts)
        per_sample = {k: v for k, v in kwargs.items() if isinstance(v, list | tuple) and len(v) == n}
        if prompts is not None:
            per_sample.setdefault("prompt", list(prompts))
        required, optional = select_columns(spec, list(per_sample))
        columns = {c: per_sample[c] for c in required if c in per_sample}
        columns |= {c: per_sample.get(c, [None] * n) for c in optional}
        clash = sorted(set(settings) & set(columns))
        if clash:
            raise ValueError(f"settings {clash} of reward {name!r} clash with dataset column(s) of the same name")
        results = score_batch(spec, texts, {**columns, **settings})
        report.note(results)
        return [r.score if r.status == "ok" else None for r in results]

    reward_func.__name__ = re.sub(r"\W", "_", name)  # TRL logs rewards under the function's name
    reward_func.__qualname__ = reward_func.__name__
    return reward_func
