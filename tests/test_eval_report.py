"""Evaluation extras: COMET through the QE reward server, the LLM-judge hook, the report, and the
translation-vs-general scores and regression gate that pipeline summaries use.

COMET runs for real: a reward server under `.venv-qe` (skipped, as in tests/test_translation.py,
when that environment does not exist) on tiny offline checkpoints. The judge is tested against a
small fake OpenAI-compatible server on 127.0.0.1 (standing in for a remote LLM), which prefers
the longer answer, so every verdict is known in advance.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rlsys.core.pipeline_config import EvalConfig, JudgeConfig, ParetoConfig, QEConfig
from rlsys.eval_report import axis_scores, pareto_front, regressions, render_report
from rlsys.evaluate import score
from tests.test_translation import qe_python, tiny_comet  # noqa: F401  (session fixtures)

# ---------------------------------------------------------------- COMET through the QE server


def test_comet_and_cometkiwi_through_a_qe_server_the_eval_starts(tiny_comet):  # noqa: F811
    from rlsys.qe_server import qe_service

    rows = [
        {
            "src": "The cat sleeps on the warm sofa.",
            "reference": "Die Katze schläft auf dem warmen Sofa.",
            "src_lang": "en",
            "tgt_lang": "de",
        },
        {"src": "It rains tomorrow.", "reference": "Morgen regnet es.", "src_lang": "en", "tgt_lang": "de"},
    ]
    outputs = ["Die Katze schläft auf dem warmen Sofa.", "Es regnet."]
    cfg = QEConfig(comet_model=str(tiny_comet["ref"]), qe_model=str(tiny_comet["qe"]))
    with qe_service(cfg) as qe:
        assert qe.available and qe.served == ("comet", "comet_qe"), qe.note
        result = score("translation", rows, outputs, qe=qe)
    m = result.metrics
    for name in ("comet", "comet_qe", "comet/en-de", "comet_qe/en-de"):
        assert isinstance(m[name], float) and m[name] == m[name], name  # finite, not NaN
    assert m["comet_unscored"] == 0 and m["comet_qe_unscored"] == 0 and m["chrf"] > 0
    assert all(isinstance(r["comet"], float) for r in result.per_row)


def test_comet_is_skipped_with_a_note_without_the_qe_environment(tmp_path):
    from rlsys.qe_server import qe_service

    missing = QEConfig(qe_model="/models/kiwi", python=str(tmp_path / "no-venv" / "python"))
    with qe_service(missing) as qe:
        result = score("translation", [{"reference": "a b."}], ["a b."], qe=qe)
    assert not qe.available and "setup_qe_env.sh" in result.notes[0]
    assert "comet" not in result.metrics and result.metrics["chrf"] == pytest.approx(100.0)


def test_scoring_without_a_qe_server_raises_the_reason_not_an_attributeerror():
    from rlsys.qe_server import QEService

    qe = QEService(note="COMET skipped: no QE environment")
    with pytest.raises(RuntimeError, match="no QE server to score 'comet' with: COMET skipped: no QE environment"):
        qe.score("comet", ["a b."], [{"reference": "a b."}])


# ---------------------------------------------------------------- the judge hook


class FakeJudge(BaseHTTPRequestHandler):
    """An OpenAI-compatible /v1/chat/completions that prefers the longer answer."""

    requests: list[dict] = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeJudge.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
        text = body["messages"][-1]["content"]
        a = re.search(r"\[Answer of assistant A\]\n(.*)\n\[End of answer A\]", text, re.S).group(1)
        b = re.search(r"\[Answer of assistant B\]\n(.*)\n\[End of answer B\]", text, re.S).group(1)
        if "confuse" in a + b:
            reply = "Hard to say: [[A>B]] or maybe [[B>A]]."
        else:
            reply = (
                "A is longer. [[A>B]]" if len(a) > len(b) else "B is longer. [[B>A]]" if len(b) > len(a) else "[[A=B]]"
            )
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_judge():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeJudge)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeJudge.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_judge_plays_both_orders_and_counts_invalid_games(fake_judge, monkeypatch):
    monkeypatch.setenv("JUDGE_KEY", "sekrit")
    rows = [
        {"prompt": [{"role": "user", "content": "Tell me about cats."}], "baseline": "Cats."},
        {"prompt": "Tell me about dogs.", "baseline": "Dogs are loyal animals that like walks."},
        {"prompt": "Same?", "baseline": "equal"},
        {"prompt": "Trick?", "baseline": "please confuse the judge"},
    ]
    outputs = ["Cats are small carnivores.", "Dogs.", "EQUAL", "x"]
    cfg = EvalConfig(
        data={"judge": "unused.jsonl"},
        judge=JudgeConfig(url=fake_judge, model="judge-1", api_key_env="JUDGE_KEY", concurrency=2),
    )
    result = score("judge", rows, outputs, cfg=cfg)
    # rows 1-3: a win, a loss and a tie in both orders; row 4: two invalid games
    assert result.metrics == {"rows": 4.0, "invalid": 2.0, "win_rate": pytest.approx((2 + 0 + 1) / 6)}
    assert result.per_row[0]["games"] == ["A>B", "B>A"] and result.per_row[3]["model_score"] == [None, None]
    assert len(FakeJudge.requests) == 8
    first = FakeJudge.requests[0]
    assert first["path"] == "/v1/chat/completions" and first["auth"] == "Bearer sekrit"
    assert first["model"] == "judge-1" and first["temperature"] == 0.0


def test_judge_sets_are_skipped_without_a_judge_and_a_dead_judge_is_invalid_not_a_loss(tiny_llama, tmp_path):
    from rlsys.evaluate import evaluate

    path = tmp_path / "arena.jsonl"
    path.write_text(json.dumps({"prompt": "Hi?", "baseline": "Hello."}) + "\n")
    cfg = EvalConfig(data={"judge": str(path)}, max_new_tokens=4, max_model_len=64, output_dir=str(tmp_path / "r"))
    assert evaluate(tiny_llama, cfg) == {}
    assert "judge sets skipped" in json.loads((tmp_path / "r" / "eval.json").read_text())["notes"][0]
    dead = JudgeConfig(url="http://127.0.0.1:9/v1", model="m", timeout_s=2)
    result = score(
        "judge",
        [{"prompt": "Hi?", "baseline": "Hello."}],
        ["Hey."],
        cfg=EvalConfig(data={"judge": str(path)}, judge=dead),
    )
    assert result.metrics == {"rows": 1.0, "invalid": 2.0} and "request failed" in result.per_row[0]["games"][0]


# ---------------------------------------------------------------- report, Pareto scores, gate


def test_report_has_a_section_per_set_with_pairs_modes_and_notes():
    cfg = EvalConfig(
        data={"translation": "t.jsonl", "instructions": "i.jsonl", "math": "m.jsonl"},
        samples_per_prompt=4,
        pass_k=[1, 4],
    )
    metrics = {
        "translation/chrf": 55.5,
        "translation/bleu": 20.0,
        "translation/chrf/en-qaa": 60.0,
        "translation/bleu/en-qaa": 22.0,
        "translation/rows": 4.0,
        "instructions/constraint_accuracy": 0.5,
        "instructions/prompt_accuracy": 0.25,
        "instructions/constraint_accuracy_loose": 0.75,
        "instructions/prompt_accuracy_loose": 0.5,
        "instructions/rows": 4.0,
        "math/accuracy": 0.5,
        "math/pass@1": 0.4,
        "math/pass@4": 0.9,
        "math/unscored": 0.0,
        "math/samples_per_prompt": 4.0,
        "math/rows": 2.0,
    }
    records = [
        {"set": "math", "where": "m.jsonl line 1", "prompt": "What is 1+1?", "output": "\\boxed{2}", "score": 1.0}
    ]
    md = render_report("runs/x/hf", metrics, records, cfg, ["translation: COMET skipped: no QE environment"])
    for expected in (
        "## translation (4 rows)",
        "| all | 55.50 | 20.00 |",
        "| en-qaa | 60.00 | 22.00 |",
        "| prompt level (every instruction met) | 0.250 | 0.500 |",
        "| greedy accuracy | pass@1 | pass@4 |",
        "| 0.500 | 0.400 | 0.900 | 0 |",
        "## Notes",
        "COMET skipped",
        "## Examples",
        "'What is 1+1?'",
    ):
        assert expected in md, expected


def test_axis_scores_default_to_chrf_and_general_accuracies_on_one_scale():
    metrics = {
        "translation/chrf": 80.0,
        "translation:flores/chrf": 60.0,
        "translation/chrf/en-qaa": 1.0,
        "instructions/prompt_accuracy": 0.5,
        "math/accuracy": 0.25,
        "math/pass@4": 0.9,
    }
    assert axis_scores(metrics, ParetoConfig()) == (pytest.approx(0.7), pytest.approx(0.375))
    chosen = ParetoConfig(translation_metrics=["translation:flores/chrf"], general_metrics=["math/pass@4"])
    assert axis_scores(metrics, chosen) == (pytest.approx(0.6), pytest.approx(0.9))
    assert axis_scores({}, ParetoConfig()) == (None, None)


def test_pareto_front_and_regression_gate():
    points = [(0.05, 0.0), (0.10, 0.05), (0.83, 0.40), (0.84, 0.35), (0.80, 0.60)]
    assert pareto_front(points) == [False, False, True, True, True]
    assert pareto_front([(0.5, 0.5), (0.4, 0.5), (0.5, 0.5)]) == [True, False, True]  # ties stay on the front
    gate = regressions(points, ParetoConfig(max_translation_drop=0.02, max_general_drop=0.04))
    assert gate[:4] == [[], [], [], ["general -0.050 (margin 0.04)"]]
    assert gate[4] == ["translation -0.040 (margin 0.02)"]
    assert regressions([(0.5, None), (0.1, 0.2)], ParetoConfig()) == [[], ["translation -0.400 (margin 0.02)"]]
