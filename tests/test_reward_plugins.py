"""Third-party rewards and other trainers: entry-point plugins, `module:function` paths, the TRL
adapter and the `rewards` CLI commands.

The plugin is a real installed distribution as far as importlib.metadata can tell: a package
plus a `*.dist-info` folder with `entry_points.txt`, written to tmp_path and put on sys.path.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from rewards import registry
from rewards.adapters import completion_text, trl_reward_func
from rewards.cli import register
from rewards.compose import score_rows
from rewards.registry import get_reward, list_rewards
from rewards.service import serve_rewards

PLUGIN = '''
from rewards.base import RewardResult
from rewards.registry import reward

@reward("plugin_decorated", columns=("answer",), description="1 if the completion ends with the answer.")
def decorated(completions, answer, **_):
    return [RewardResult.ok(float(c.endswith(a))) for c, a in zip(completions, answer)]

def plain(completions, **_):
    """Parity of the completion's length (a plain callable, no decorator)."""
    return [float(len(c) % 2) for c in completions]
'''
ENTRY_POINTS = """[rlsys.rewards]
plugin_plain = rlsys_test_plugin:plain
plugin_decorated = rlsys_test_plugin:decorated
plugin_broken = rlsys_test_plugin:does_not_exist
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "rlsys_test_plugin").mkdir()
    (tmp_path / "rlsys_test_plugin" / "__init__.py").write_text(PLUGIN)
    dist = tmp_path / "rlsys_test_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: rlsys-test-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(ENTRY_POINTS)
    list_rewards()  # register the built-ins first, into the real registry
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))  # forget the plugin afterwards
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("rlsys_test_plugin", None)


def test_entry_point_plugins_resolve_and_are_listed(plugin: None) -> None:
    plain = get_reward("plugin_plain")
    assert plain.description.startswith("Parity of the completion's length")
    assert [r.score for r in registry.score(plain, ["ab", "abc"], {})] == [0.0, 1.0]
    decorated = get_reward("plugin_decorated")
    assert decorated.columns == ("answer",)
    listed = list_rewards()
    assert {"plugin_plain", "plugin_decorated", "exact_match"} <= set(listed)
    assert listed["plugin_decorated"].description == "1 if the completion ends with the answer."


def test_broken_plugin_is_listed_and_fails_per_sample(plugin: None) -> None:
    broken = list_rewards()["plugin_broken"]
    assert broken.description.startswith("failed to load")
    (result,) = registry.score(broken, ["x"], {})
    assert result.status == "error" and "does_not_exist" in result.reason


def test_module_function_paths(plugin: None) -> None:
    assert get_reward("rlsys_test_plugin:plain").name == "rlsys_test_plugin:plain"
    assert get_reward("rlsys_test_plugin:decorated").name == "plugin_decorated"
    with pytest.raises(KeyError, match="cannot import reward 'rlsys_test_plugin:nope'"):
        get_reward("rlsys_test_plugin:nope")
    with pytest.raises(KeyError, match="unknown reward 'no_such_reward'.*exact_match"):
        get_reward("no_such_reward")


def test_rows_can_name_plugins(plugin: None) -> None:
    rows = [
        {"reward": "plugin_plain"},
        {"reward": [{"name": "plugin_decorated", "weight": 2}], "answer": "c"},
        {"reward": "rlsys_test_plugin:plain"},
    ]
    assert [r.score for r in score_rows(["ab", "abc", "a"], rows)] == [0.0, 2.0, 1.0]


def test_trl_adapter_plain_and_conversational() -> None:
    fn = trl_reward_func("exact_match")
    assert fn.__name__ == "exact_match"
    conversation = [{"role": "assistant", "content": [{"type": "text", "text": "4"}]}]
    out = fn(
        prompts=["q"] * 4,
        completions=["4", conversation, "5", "4"],
        answer=["4", "4", "4", None],
        completion_ids=[[1]] * 4,
        trainer_state=object(),
    )
    assert out == [1.0, 1.0, 0.0, None]  # None (not 0) where the reward is not applicable


def test_trl_adapter_settings_and_errors() -> None:
    assert trl_reward_func("length_penalty", max_chars=2)(prompts=["q"], completions=["abc"]) == [-0.5]
    assert trl_reward_func("length_penalty", max_chars=-1)(prompts=["q"], completions=["abc"]) == [None]
    assert trl_reward_func("exact_match")(prompts=["q"], completions=["abc"]) == [None]  # column missing: error
    with pytest.raises(KeyError, match="unknown reward"):
        trl_reward_func("no_such_reward")
    with pytest.raises(ValueError, match="clash"):
        trl_reward_func("exact_match", answer="x")(prompts=["q"], completions=["x"], answer=["x"])


def test_completion_text_shapes() -> None:
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "a"},
        {"role": "assistant", "content": "b"},
    ]
    assert completion_text(messages) == "ab"
    assert completion_text({"role": "assistant", "content": None}) == ""
    assert completion_text([{"content": "no role"}]) == "no role"


def test_cli_defaults_match_the_service() -> None:
    from rewards import service

    defaults = {name: p.default for name, p in inspect.signature(serve_rewards).parameters.items()}
    assert defaults["max_body_bytes"] == service.DEFAULT_MAX_BODY_BYTES
    assert defaults["max_batch"] == service.DEFAULT_MAX_BATCH
    assert defaults["request_timeout_s"] == service.DEFAULT_REQUEST_TIMEOUT_S
    assert defaults["max_concurrency"] == service.DEFAULT_MAX_CONCURRENCY
    assert defaults["host"] == "127.0.0.1"


def test_cli_rewards_list_and_serve_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    result = runner.invoke(app, ["rewards", "list"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "exact_match" in result.output and "answer" in result.output and "length_penalty" in result.output
    monkeypatch.delenv("RLSYS_NO_SUCH_TOKEN", raising=False)
    result = runner.invoke(app, ["serve-rewards", "--token-env", "RLSYS_NO_SUCH_TOKEN"])
    assert result.exit_code == 2 and "RLSYS_NO_SUCH_TOKEN" in result.output
    result = runner.invoke(app, ["serve-rewards", "--rewards", "no_such_reward", "--port", "0"])
    assert result.exit_code == 2 and "unknown reward 'no_such_reward'" in result.output
