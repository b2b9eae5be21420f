"""The learner's cpt / sft / dpo / wpo modes on a tiny model: real DeepSpeed ZeRO-2 (gloo) runs
that export loadable checkpoints, loss normalization across micro-batches, the reference pass,
mixing and validation data, and bad rows failing before any model is loaded.

Data is written to tmp_path; the model is `rlsys.toy.tiny`'s random Llama (hidden 128, 2 layers).
The four DeepSpeed runs share this process, one after another, as pipeline stages do.
"""

import json
import math

import pytest
import torch

from pretrain_sft.data import DataError
from pretrain_sft.examples import TokenizedExample
from pretrain_sft.stage import make_learner, run_stage
from pretrain_sft.stage_data import load_stage_data, mixture_steps
from pretrain_sft.trainer import SupervisedLearner
from rlsys.core.pipeline_config import PipelineConfig

CHAT = [
    {
        "messages": [
            {"role": "user", "content": f"What is {i} plus {i}?"},
            {"role": "assistant", "content": f"It is {2 * i}."},
        ]
    }
    for i in range(16)
]
TEXT = [{"text": f"Number {i} sleeps under the {'red' if i % 2 else 'blue'} tree, {i * 7} times."} for i in range(20)]
PARALLEL = [
    {"src": f"Hello friend number {i}", "tgt": f"Olá amigo número {i}", "src_lang": "en", "tgt_lang": "pt"}
    for i in range(10)
]
PREFERENCE = [
    {"prompt": f"Say the number {i}.", "chosen": f"{i}.", "rejected": f"Maybe {i + 1}, or not."} for i in range(16)
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def write_data(folder) -> dict[str, str]:
    """text / parallel / chat / preference JSONL files in `folder`; returns name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = {"text": TEXT, "parallel": PARALLEL, "chat": CHAT, "preference": PREFERENCE}
    return {name: write_jsonl(folder / f"{name}.jsonl", data) for name, data in rows.items()}


def stage_config(mode: str, data: dict[str, str], **learner) -> dict:
    """A 2-step stage of `mode` with a 10% validation split."""
    sources = {
        "cpt": [{"path": data["text"], "weight": 2.0}, {"path": data["parallel"]}],
        "sft": [{"path": data["chat"]}, {"path": data["parallel"], "name": "translation"}],
        "dpo": [{"path": data["preference"]}],
        "wpo": [{"path": data["preference"]}],
    }[mode]
    pair = mode in ("dpo", "wpo")
    stage = {
        "type": mode,
        "sources": sources,
        "max_tokens": 48 if pair else 64,
        "examples_per_step": 8,
        "steps": 2,
        "validation_fraction": 0.1,
        "learner": {"lr": 1e-3, "micro_batch_tokens": 128, "lr_schedule": "linear", **learner},
    }
    if pair:
        stage["rpo_alpha"] = 0.5
    return stage


def parse_stage(stage: dict, model: str = "unused"):
    return PipelineConfig.model_validate({"model": {"path": model}, "stages": [stage]}).stages[0]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_data(tmp_path_factory.mktemp("stage-data"))


@pytest.mark.parametrize("mode", ["cpt", "sft", "dpo", "wpo"])
def test_two_deepspeed_zero2_steps_export_a_loadable_model(mode, data, tiny_llama, tmp_path):
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    stage = parse_stage(stage_config(mode, data, strategy="deepspeed", zero_stage=2))
    result = run_stage(stage, tiny_llama, tmp_path / "stage")
    rows = [json.loads(line) for line in (tmp_path / "stage" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    for r in rows:
        assert math.isfinite(r["loss"]) and r["loss"] > 0 and math.isfinite(r["grad_norm"]) and r["grad_norm"] > 0
        assert r["tokens"] > 0
    assert [r["lr"] for r in rows] == pytest.approx([1e-3, 5e-4])  # linear decay over 2 steps, as used by each
    assert math.isfinite(rows[-1]["val/loss"]) and "val/loss" not in rows[0]
    if mode in ("dpo", "wpo"):
        assert rows[0]["rewards/margin"] == pytest.approx(0.0, abs=1e-5)  # policy == reference before any update
        assert rows[1]["rewards/accuracy"] >= 0.5 and rows[1]["rewards/margin"] > 0
        assert rows[0]["rpo/chosen_nll"] > 0
        assert ("wpo/weight_mean" in rows[0]) == (mode == "wpo")
    hf = tmp_path / "stage" / "final" / "hf"
    assert result["model_dir"] == str(hf)
    model = AutoModelForCausalLM.from_pretrained(hf)
    tokenizer = AutoTokenizer.from_pretrained(hf)
    assert tokenizer.chat_template and (hf / "generation_config.json").exists()
    start, end = load_file(f"{tiny_llama}/model.safetensors"), load_file(hf / "model.safetensors")
    assert start.keys() == end.keys() and any(not torch.equal(start[k], end[k]) for k in start)
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, return_dict=True
    )["input_ids"]
    assert torch.isfinite(model(torch.tensor([ids])).logits).all()


def captured_step(learner: SupervisedLearner, examples) -> tuple[dict, dict]:
    """Gradients and metrics of one train_step, with the optimizer step replaced by a capture."""
    grads = {}

    def capture():
        grads.update({n: p.grad.clone() for n, p in learner.strategy.module.named_parameters() if p.grad is not None})
        return 0.0

    learner.strategy.step = capture
    return grads, learner.train_step(examples)


@pytest.mark.parametrize("mode", ["sft", "wpo"])
def test_the_update_does_not_depend_on_micro_batching(mode, data, tiny_llama):
    """The same step split into 1 or several micro-batches gives the same loss and gradient."""
    results = []
    for budget in (1024, 128):
        stage = parse_stage(stage_config(mode, data, micro_batch_tokens=budget))
        learner = make_learner(stage, tiny_llama, total_steps=2)
        examples = load_stage_data(stage, learner.tokenizer, seed=0).train[:8]
        results.append(captured_step(learner, learner.prepare(examples)))
        learner.close()
    (g1, m1), (g2, m2) = results
    assert m1["micro_batches"] == 1 and m2["micro_batches"] > 1
    assert m1["loss"] == pytest.approx(m2["loss"], rel=1e-5)
    assert g1.keys() == g2.keys() and g1
    for key in g1:
        torch.testing.assert_close(g1[key], g2[key], atol=1e-6, rtol=1e-4)


def test_cpt_loss_is_the_token_mean_over_the_step_of_each_document_alone(data, tiny_llama):
    """Packed rows (documents share a row) give each document's own loss: no cross-attention."""
    stage = parse_stage(stage_config("cpt", data, micro_batch_tokens=256))
    learner = SupervisedLearner(tiny_llama, stage, total_steps=1)
    examples = load_stage_data(stage, learner.tokenizer, seed=0).train[:8]
    model = learner.strategy.module
    total, count = 0.0, 0
    with torch.no_grad():
        for ex in examples:  # each alone; packing gives the first token of a document no loss
            logits = model(torch.tensor([ex.input_ids])).logits[0, :-1]
            total += float(torch.nn.functional.cross_entropy(logits, torch.tensor(ex.labels[1:]), reduction="sum"))
            count += len(ex) - 1
    _, metrics = captured_step(learner, examples)
    learner.close()
    assert metrics["micro_batches"] < len(examples)  # several documents really shared a row
    assert metrics["loss"] == pytest.approx(total / count, rel=1e-5) and metrics["loss_tokens"] == count


def test_a_preference_learner_refuses_sequence_examples(data, tiny_llama):
    """dpo/wpo given sequence examples (sft data by mistake) stop with a TypeError naming both."""
    stage = parse_stage(stage_config("dpo", data))
    learner = make_learner(stage, tiny_llama, total_steps=1)
    try:
        with pytest.raises(TypeError, match="dpo trains on preference pairs, got a TokenizedExample"):
            learner.prepare([TokenizedExample([1, 2, 3], [1, 2, 3])])
    finally:
        learner.close()


def test_precomputed_reference_matches_a_frozen_reference_model(data, tiny_llama):
    """After an update, the one-pass reference log-probs give what a frozen copy computes."""
    runs = []
    for reference in ("precomputed", "model"):
        stage = parse_stage({**stage_config("dpo", data), "reference": reference})
        learner = make_learner(stage, tiny_llama, total_steps=2)
        pairs = learner.prepare(load_stage_data(stage, learner.tokenizer, seed=0).train[:8])
        assert (pairs[0].ref is None) == (reference == "model")
        runs.append([learner.train_step(pairs), learner.train_step(pairs)])
        learner.close()
    (pre1, pre2), (mod1, mod2) = runs
    assert pre2["rewards/margin"] != pytest.approx(0.0)
    for key in ("loss", "rewards/chosen", "rewards/rejected", "rewards/accuracy", "grad_norm"):
        assert pre1[key] == pytest.approx(mod1[key], rel=1e-4, abs=1e-6)
        assert pre2[key] == pytest.approx(mod2[key], rel=1e-4, abs=1e-6)


def test_mixture_weights_and_validation_split(data, tiny_llama):
    from transformers import AutoTokenizer

    stage = parse_stage(
        {**stage_config("cpt", data), "validation_fraction": 0.2, "max_tokens": 128, "mix_by": "examples"}
    )
    loaded = load_stage_data(stage, AutoTokenizer.from_pretrained(tiny_llama), seed=3)
    assert loaded.sizes == {"text": 16, "parallel": 8} and len(loaded.val) == 6
    assert not {tuple(e.input_ids) for e in loaded.val} & {tuple(e.input_ids) for e in loaded.train}
    steps = mixture_steps(loaded, seed=3, per_step=8)
    epoch = [i for _ in range(3) for i in next(steps)]  # one epoch: 24 examples, weights 2:1 over rows
    assert sum(i < 16 for i in epoch) == 16 and sorted(epoch) == list(range(24))
    assert loaded.stats["text"].rows == 20 and loaded.stats["parallel"].examples == 10


def test_cpt_weights_are_token_shares_by_default(data, tiny_llama):
    """A cpt stage's weights share out tokens: over whole epochs the text and parallel sources get
    2/3 and 1/3 of the training tokens, whatever their row lengths (sft keeps example shares)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    stage = parse_stage({**stage_config("cpt", data), "max_tokens": 128})
    assert stage.mixing == "tokens" and parse_stage(stage_config("sft", data)).mixing == "examples"
    loaded = load_stage_data(stage, tokenizer, seed=0)
    lengths = [len(e) for e in loaded.train]
    text_rows = loaded.sizes["text"]
    mean_text, mean_par = (loaded.tokens[n] / loaded.sizes[n] for n in ("text", "parallel"))
    assert abs(mean_text - mean_par) > 2  # the rows differ in length, so the two semantics differ
    steps = mixture_steps(loaded, seed=0, per_step=4)
    drawn = [i for _ in range(10 * loaded.epoch_size // 4) for i in next(steps)]  # ten epochs
    text_tokens = sum(lengths[i] for i in drawn if i < text_rows)
    assert text_tokens / sum(lengths[i] for i in drawn) == pytest.approx(2 / 3, abs=0.02)


def test_bad_rows_fail_with_file_line_and_field_before_training(data, tiny_llama, tmp_path):
    bad = list(CHAT)
    bad[2] = {"messages": [{"role": "robot", "content": "beep"}, {"role": "assistant", "content": "x"}]}
    path = write_jsonl(tmp_path / "bad.jsonl", bad)
    stage = parse_stage({**stage_config("sft", data), "sources": [{"path": path}]})
    with pytest.raises(DataError, match=r"bad\.jsonl line 3, field 'messages\[0\]\.role': unknown role 'robot'"):
        run_stage(stage, tiny_llama, tmp_path / "stage")
    wrong_kind = parse_stage({**stage_config("cpt", data), "sources": [{"path": data["chat"]}]})
    with pytest.raises(DataError, match=r"chat\.jsonl.*chat rows do not fit a cpt stage"):
        run_stage(wrong_kind, tiny_llama, tmp_path / "stage2")
    assert not (tmp_path / "stage").exists() and not (tmp_path / "stage2").exists()  # no run folder, no step


@pytest.mark.parametrize("mode", ["sft", "wpo"])
def test_bfloat16_autocast_runs_each_learner_mode(mode, data, tiny_llama, tmp_path):
    """`learner.autocast` reaches the supervised and preference forward passes; weights stay fp32."""
    from safetensors.torch import load_file

    run_stage(parse_stage(stage_config(mode, data, autocast="bfloat16")), tiny_llama, tmp_path / "bf16")
    run_stage(parse_stage(stage_config(mode, data)), tiny_llama, tmp_path / "fp32")
    rows = {
        k: [json.loads(line) for line in (tmp_path / k / "metrics.jsonl").read_text().splitlines()]
        for k in ("bf16", "fp32")
    }
    first = rows["bf16"][0]["loss"], rows["fp32"][0]["loss"]
    assert math.isfinite(first[0]) and first[0] != first[1] and first[0] == pytest.approx(first[1], rel=0.05)
    weights = load_file(tmp_path / "bf16" / "final" / "hf" / "model.safetensors")
    assert {t.dtype for t in weights.values()} == {torch.float32}
