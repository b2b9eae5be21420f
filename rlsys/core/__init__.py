"""The bottom layer of the trainer: config schema, shared data types, RL algorithms, data readers.

Imports nothing from `actors`, `pretrain_sft` or the orchestration modules of `rlsys` (driver,
cluster, pipeline, evaluation, CLI), and only `rewards` from the rest of the project; importable
without torch, vLLM or Ray except `algorithms` and `batch` (torch). See docs/architecture.md.
"""
