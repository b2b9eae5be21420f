"""Translation rewards: chrF/BLEU against sacrebleu, the COMET error in the main env, and the
real COMET path (unbabel-comet in .venv-qe, on a tiny checkpoint built offline).

The COMET tests run `.venv-qe/bin/python` in subprocesses (its transformers<5 cannot share a
process with this env's). They skip only when .venv-qe does not exist (build it with
scripts/setup_qe_env.sh); with RLSYS_REQUIRE_QE=1 (CI) a missing .venv-qe is a failure.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sacrebleu

from rewards.registry import score
from rewards.translation import COMET_MISSING, bleu, chrf, comet_qe, comet_score, language_mismatch

REPO = Path(__file__).resolve().parents[1]
QE_PYTHON = REPO / ".venv-qe" / "bin" / "python"

# (hypothesis, reference): every n-gram order up to 4 matches, so corpus BLEU needs no smoothing.
PAIRS = [
    ("The cat sat on the mat near the door.", "The cat sat on the mat near the door."),
    ("The cat sat on the mat near a door.", "The cat sat on the mat near the door."),
    ("Der Zug nach Berlin hat heute wieder Verspätung.", "Der Zug nach Berlin hat wieder Verspätung."),
    ("A dog sat on the mat near the window today.", "The cat sat on the mat near the door."),
]


@pytest.mark.parametrize(("hyp", "ref"), PAIRS)
def test_chrf_and_bleu_match_sacrebleu_corpus_scores(hyp: str, ref: str) -> None:
    assert chrf([hyp], reference=[ref])[0].score == pytest.approx(sacrebleu.corpus_chrf([hyp], [[ref]]).score / 100)
    assert bleu([hyp], reference=[ref])[0].score == pytest.approx(sacrebleu.corpus_bleu([hyp], [[ref]]).score / 100)


def test_scores_are_on_a_0_to_1_scale_and_ordered() -> None:
    ref = "Die Katze schläft auf dem warmen Sofa im Wohnzimmer."
    outputs = [ref, "Die Katze schläft auf dem Sofa.", "Morgen regnet es in Hamburg."]
    for name in ("chrf", "bleu"):
        spec = (chrf if name == "chrf" else bleu).reward_spec
        results = score(spec, outputs, {"reference": [ref] * 3})
        assert [r.status for r in results] == ["ok"] * 3
        perfect, partial, wrong = (r.score for r in results)
        assert perfect == pytest.approx(1.0) and perfect <= 1.0, name
        assert perfect > partial > wrong >= 0.0, (name, perfect, partial, wrong)


def test_multiple_references_and_missing_reference() -> None:
    results = chrf(["the red house", "x"], reference=[["a blue car", "the red house"], None])
    assert results[0].score == pytest.approx(1.0)
    assert results[1].status == "not_applicable" and "row 1" in results[1].reason and "reference" in results[1].reason


def test_language_check_gives_zero_with_reason_only_when_enabled() -> None:
    outputs = ["Die Katze schläft.", "Кошка спит.", "Die Katze schläft."]
    columns = {"reference": ["Die Katze schläft."] * 3, "tgt_lang": ["de", "de", "tlh"]}
    checked = score(chrf.reward_spec, outputs, {**columns, "check_language": True})
    assert [r.status for r in checked] == ["ok"] * 3
    assert checked[0].score == pytest.approx(1.0) and checked[2].score == pytest.approx(1.0)  # tlh: unknown, unchecked
    assert checked[1].score == 0.0 and checked[1].reason.startswith("guard language: wrong language: expected de")
    unchecked = score(chrf.reward_spec, outputs, columns)
    assert unchecked[1].score > 0.0 and unchecked[1].reason == ""


@pytest.mark.parametrize(
    ("text", "lang", "wrong"),
    [
        ("The weather is nice.", "de", False),  # same script: not detectable, not flagged
        ("Погода хорошая.", "pt-BR", True),
        ("今日はいい天気ですね。", "zh", True),  # mostly kana
        ("今日はいい天気ですね。", "Japanese", False),
        ("今天天气很好。", "ja", False),  # Han is used in Japanese too
        ("Hello, how are you?", "ko", True),
        ("안녕하세요, 제 iPhone입니다", "ko_KR", False),  # some Latin is fine
        ("12345 !!!", "ru", False),  # no letters: nothing to judge
        ("Bonjour", "", False),
    ],
)
def test_language_mismatch_by_script(text: str, lang: str, wrong: bool) -> None:
    reason = language_mismatch(text, lang)
    assert (reason is not None) == wrong, reason
    if wrong:
        assert reason.startswith(f"wrong language: expected {lang}")


@pytest.mark.skipif(importlib.util.find_spec("comet") is not None, reason="unbabel-comet is installed in this env")
def test_comet_rewards_give_a_clear_error_in_the_main_env() -> None:
    for spec, columns in (
        (comet_score.reward_spec, {"src": ["a", "b"], "reference": ["c", "d"]}),
        (comet_qe.reward_spec, {"src": ["a", "b"], "model_path": "/nonexistent"}),
    ):
        results = score(spec, ["x", "y"], columns)
        assert [(r.status, r.reason) for r in results] == [("error", COMET_MISSING)] * 2


# ---------------------------------------------------------------- the real COMET path (.venv-qe)


def _qe_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RLSYS_COMET")}
    env.update(PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONIOENCODING="utf-8")
    return env


def _run_qe(args: list[str], timeout: float = 300, **env: str) -> str:
    proc = subprocess.run(
        [str(QE_PYTHON), *args], cwd=REPO, env={**_qe_env(), **env}, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        pytest.fail(f"{QE_PYTHON} {' '.join(args[:2])} exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    return proc.stdout


@pytest.fixture(scope="session")
def qe_python() -> Path:
    if not QE_PYTHON.exists():
        reason = f"{QE_PYTHON} does not exist: run scripts/setup_qe_env.sh to build the QE environment"
        if os.environ.get("RLSYS_REQUIRE_QE") == "1":
            pytest.fail(f"RLSYS_REQUIRE_QE=1 but {reason}")
        pytest.skip(reason)
    return QE_PYTHON


@pytest.fixture(scope="session")
def tiny_comet(
    qe_python: Path, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """Tiny ref + qe checkpoints, built with `python -m rlsys.toy.comet_tiny`; cached across runs
    in pytest's cache, keyed by the builder's source and the QE pins."""
    key = hashlib.sha256()
    for path in (REPO / "rlsys" / "toy" / "comet_tiny.py", REPO / "requirements" / "qe.txt"):
        key.update(path.read_bytes())
    cache = getattr(request.config, "cache", None)
    root = cache.mkdir(f"rlsys_comet_tiny_{key.hexdigest()[:16]}") if cache else tmp_path_factory.mktemp("comet")
    if cache:  # drop checkpoints built by an older comet_tiny.py / qe.txt
        for stale in Path(root).parent.glob("rlsys_comet_tiny_*"):
            if stale != Path(root):
                shutil.rmtree(stale, ignore_errors=True)
    built = {kind: Path(root) / kind for kind in ("ref", "qe")}
    todo = [k for k, out in built.items() if not (out / "hparams.yaml").is_file()]
    staging = {kind: Path(root) / f"{kind}.building.{os.getpid()}" for kind in todo}
    procs = {  # the two builds run side by side: most of each is importing comet
        kind: subprocess.Popen(
            [str(QE_PYTHON), "-m", "rlsys.toy.comet_tiny", str(staging[kind]), "--kind", kind],
            cwd=REPO,
            env=_qe_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for kind in todo
    }
    for kind, proc in procs.items():
        _, stderr = proc.communicate(timeout=300)
        if proc.returncode != 0:
            pytest.fail(f"python -m rlsys.toy.comet_tiny --kind {kind} exited {proc.returncode}:\n{stderr[-4000:]}")
        # hparams.yaml holds the absolute encoder path: point it at the final location.
        hparams = staging[kind] / "hparams.yaml"
        hparams.write_text(
            hparams.read_text(encoding="utf-8").replace(str(staging[kind]), str(built[kind])), encoding="utf-8"
        )
        shutil.rmtree(built[kind], ignore_errors=True)
        staging[kind].rename(built[kind])
    return built


SCORE_SCRIPT = r"""
import json, sys
from rewards.registry import score
from rewards import translation

ref_dir, qe_dir = sys.argv[1], sys.argv[2]
completions = ["Die Katze schläft auf dem warmen Sofa.", "Die Katze schläft.", "Morgen regnet es.",
               "Кошка спит на тёплом диване.", "", "The cat sleeps on the warm sofa.",
               "Here is the translation:\nDie Katze schläft auf dem warmen Sofa."]
n = len(completions)
src = ["The cat sleeps on the warm sofa."] * n
ref = ["Die Katze schläft auf dem warmen Sofa."] * n
qe = translation.comet_qe.reward_spec
out = {
    "comet": score(translation.comet_score.reward_spec, completions,
                   {"src": src, "reference": ref, "model_path": ref_dir, "batch_size": 2}),
    "comet_qe": score(qe, completions, {"src": src, "model_path": qe_dir, "guards": "none"}),
    "comet_qe_lang": score(qe, completions, {"src": src, "tgt_lang": ["de"] * n, "guards": "none",
                                             "check_language": True, "model_path": qe_dir}),
    "comet_qe_guarded": score(qe, completions, {"src": src, "tgt_lang": ["de"] * n, "src_lang": ["en"] * n,
                                                "model_path": qe_dir}),
    "comet_qe_bad_setting": score(qe, completions[:2], {"src": src[:2], "guards": ["lenght"], "model_path": qe_dir}),
    "comet_qe_env": score(qe, completions[:2], {"src": src[:2]}),
    "comet_qe_no_src": score(qe, ["x", "y"], {"src": ["a", None], "model_path": qe_dir}),
}
result = {k: [r.to_dict() for r in v] for k, v in out.items()}
result["models_loaded"] = len(translation._MODELS)
print(json.dumps(result))
"""


@pytest.fixture(scope="session")
def qe_scores(tiny_comet: dict[str, Path]) -> dict:
    stdout = _run_qe(
        ["-c", SCORE_SCRIPT, str(tiny_comet["ref"]), str(tiny_comet["qe"] / "checkpoints" / "model.ckpt")],
        RLSYS_COMET_QE_MODEL=str(tiny_comet["qe"]),
    )
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", ["comet", "comet_qe", "comet_qe_env"])
def test_real_comet_gives_one_finite_score_per_sample(qe_scores: dict, name: str) -> None:
    results = qe_scores[name]
    assert len(results) == (2 if name == "comet_qe_env" else 7)
    for r in results:
        assert r["status"] == "ok", r
        assert math.isfinite(r["score"])


def test_real_comet_language_check_and_model_cache(qe_scores: dict) -> None:
    lang = qe_scores["comet_qe_lang"]
    assert lang[3] == {"score": 0.0, "status": "ok", "reason": lang[3]["reason"]}
    assert lang[3]["reason"].startswith("guard language: wrong language: expected de")
    assert lang[5]["score"] == 0.0 and "detected en" in lang[5]["reason"]  # the source, copied: the detector sees it
    for i in (0, 1, 2, 4, 6):  # scored by the model, same scores as without the check
        assert lang[i]["reason"] == "" and lang[i]["score"] == pytest.approx(qe_scores["comet_qe"][i]["score"])
    assert [r["status"] for r in qe_scores["comet_qe_no_src"]] == ["ok", "not_applicable"]
    assert "row 1" in qe_scores["comet_qe_no_src"][1]["reason"]
    # ref dir + qe ckpt file; the env var and the dir form of the qe path reuse the same model.
    assert qe_scores["models_loaded"] == 2


def test_real_comet_qe_guards_are_on_by_default(qe_scores: dict) -> None:
    """Through the real COMET path: copies, wrong language, chatter and empty output score 0 with
    the failed guard named; genuine translations keep the model's own score."""
    guarded, raw = qe_scores["comet_qe_guarded"], qe_scores["comet_qe"]
    for i in (0, 1, 2):  # scored in a smaller batch: equal up to padding noise
        assert guarded[i]["status"] == "ok" and guarded[i]["reason"] == "", guarded[i]
        assert guarded[i]["score"] == pytest.approx(raw[i]["score"], abs=1e-5)
    expected = {
        3: "guard language: wrong language",
        4: "guard length: empty output",
        5: "guard language: wrong language: expected de, detected en (the source language)",
        6: "guard translation_only: preamble",
    }
    for i, reason in expected.items():
        assert guarded[i]["status"] == "ok" and guarded[i]["score"] == 0.0, guarded[i]
        assert guarded[i]["reason"].startswith(reason), guarded[i]
        assert raw[i]["status"] == "ok" and raw[i]["reason"] == ""  # unguarded, the model scored it
    assert "guard copy: 100%" in guarded[5]["reason"]
    for r in qe_scores["comet_qe_bad_setting"]:
        assert r["status"] == "error" and "unknown guard 'lenght'" in r["reason"], r


def test_rewards_package_imports_in_the_qe_env(qe_python: Path) -> None:
    """The reward server runs under .venv-qe: every built-in module must import there."""
    code = "import rewards.builtin, json; from rewards import list_rewards; print(json.dumps(sorted(list_rewards())))"
    names = json.loads(_run_qe(["-c", code], timeout=120).strip().splitlines()[-1])
    assert {"chrf", "bleu", "comet", "comet_qe"} <= set(names)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
