"""Config loading: YAML + overrides, and errors that name the file and the key."""

import pytest

from rlsys.core.config import ConfigError, RLConfig, apply_overrides, load_config

BASE = """
model: {path: /models/x}
data: {path: data.jsonl}
"""


def write(tmp_path, text):
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return path


def test_defaults_and_overrides(tmp_path):
    cfg = load_config(write(tmp_path, BASE), ["rollout.samples_per_prompt=4", "learner.lr=3e-4", "cluster.type=inline"])
    assert isinstance(cfg, RLConfig)
    assert cfg.rollout.samples_per_prompt == 4
    assert cfg.learner.lr == pytest.approx(3e-4)
    assert cfg.cluster.type == "inline"
    assert cfg.train.prompts_per_step == 4


def test_unknown_key_names_file_and_key(tmp_path):
    path = write(tmp_path, BASE + "rollout: {samples_per_promt: 4}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and "rollout.samples_per_promt" in str(err.value)


def test_bad_value_names_key_and_value(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, BASE), ["rollout.temperature=-1"])
    assert "rollout.temperature" in str(err.value) and "-1" in str(err.value)


def test_bad_variant_and_cross_field_checks(tmp_path):
    with pytest.raises(ConfigError, match="learner.strategy"):
        load_config(write(tmp_path, BASE), ["learner.strategy=fsdp"])
    with pytest.raises(ConfigError, match="samples_per_prompt >= 2"):
        load_config(write(tmp_path, BASE), ["rollout.samples_per_prompt=1"])
    with pytest.raises(ConfigError, match="not an http"):
        load_config(write(tmp_path, BASE), ["rewards.remote={math: ftp://x}"])


def test_missing_file_and_bad_override(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="key.sub=value"):
        apply_overrides({}, ["novalue"])


def test_config_imports_without_heavy_libraries():
    import subprocess
    import sys

    code = "import sys, rlsys.core.config; print(any(m in sys.modules for m in ('torch', 'vllm', 'ray')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_mixed_precision_settings(tmp_path):
    cfg = load_config(write(tmp_path, BASE))
    assert cfg.rollout_dtype == "float32" and cfg.learner.autocast is None
    cfg = load_config(write(tmp_path, BASE), ["rollout.dtype=bfloat16", "learner.autocast=bfloat16"])
    assert cfg.rollout_dtype == "bfloat16" and cfg.model.dtype == "float32" and cfg.learner.autocast == "bfloat16"
    with pytest.raises(ConfigError, match="learner.autocast"):
        load_config(write(tmp_path, BASE), ["learner.autocast=int8"])


def test_k1_kl_is_refused_as_a_loss_and_allowed_without_one(tmp_path):
    """k1 = log(pi / pi_ref) has zero expected gradient as a loss (E_pi[grad log pi] = 0)."""
    with pytest.raises(ConfigError, match="k1.*zero expected gradient.*k3"):
        load_config(write(tmp_path, BASE), ["algorithm.kl_coef=0.1", "algorithm.kl_estimator=k1"])
    assert load_config(write(tmp_path, BASE), ["algorithm.kl_estimator=k1"]).algorithm.kl_coef == 0


def test_policy_loss_picks_its_own_defaults_and_options_are_checked(tmp_path):
    cfg = load_config(write(tmp_path, BASE), ["algorithm.policy_loss=gspo"])
    assert (cfg.algorithm.clip_low, cfg.algorithm.clip_high, cfg.algorithm.loss_agg) == (
        3e-4,
        4e-4,
        "seq_mean_token_mean",
    )
    cfg = load_config(write(tmp_path, BASE), ["algorithm.policy_loss=gspo", "algorithm.clip_high=1e-3"])
    assert cfg.algorithm.clip_high == 1e-3 and cfg.algorithm.clip_low == 3e-4  # a set value wins
    assert load_config(write(tmp_path, BASE)).algorithm.clip_high == 0.28
    assert load_config(write(tmp_path, BASE)).algorithm.rollout_correction.resolve() == "none"
    assert load_config(write(tmp_path, BASE)).algorithm.rollout_correction.resolve(asynchronous=True) == "tis"
    with pytest.raises(ConfigError, match="zero_variance_groups: keep"):
        load_config(
            write(tmp_path, BASE), ["algorithm.dynamic_sampling.enabled=true", "algorithm.zero_variance_groups=keep"]
        )
    with pytest.raises(ConfigError, match="buffer_tokens"):
        load_config(write(tmp_path, BASE), ["algorithm.overlong.mode=penalty", "algorithm.overlong.buffer_tokens=500"])
    with pytest.raises(ConfigError, match="rollout_correction.type"):
        load_config(write(tmp_path, BASE), ["algorithm.rollout_correction.type=icepop"])
    cfg = load_config(write(tmp_path, BASE), ["algorithm.overlong.mode=penalty", "rollout.max_new_tokens=100"])
    assert cfg.overlong_buffer_tokens == 20
