"""Verifiable rewards: the interface, the registry and the built-in reward functions.

A reward is a batched callable registered by name. It receives the completions and the
dataset columns it needs as keyword arguments and returns one `RewardResult` per sample.
"""

from rewards.base import RewardResult, Status
from rewards.registry import RewardSpec, get_reward, list_rewards, reward, score

__all__ = ["RewardResult", "Status", "RewardSpec", "get_reward", "list_rewards", "reward", "score"]
